"""``jetstream.constants`` of the strict stand-in: the vendor's 2.9.2 page, value for value.

Source: ``shared/jetstream-docs/vendor-constants-2.9.2.txt`` (jetstream-api/2.9.2/api/python/
jetstream.constants.html). The page documents two symbolic-link constants and ``PERMISSIONS``
without printing names or values; the stand-in invents its own (``LINKS_*``, ``PERMISSIONS``
as a dict), deliberately unlike jetstream-qa's, so only a binding file can reach them.
"""

API_VERSION = 40
BUILD_VERSION = (2, 9, 2)
DEFAULT_API_PORT = 8886
DEFAULT_SERVER_ADDRESS = "localhost"
DEFAULT_TIMEOUT_SECONDS = 10
FILETYPE_DIRECTORY = 2
FILETYPE_REGULAR_FILE = 4
MIN_CIPHER_ENCRYPTED_128 = 2
MIN_CIPHER_ENCRYPTED_256 = 3
MIN_CIPHER_NONE = 0
MIN_CIPHER_UNENCRYPTED = 1
OVERWRITE_ALWAYS = 4
OVERWRITE_IN_PLACE_SAME_SIZE = 2
OVERWRITE_NEVER = 3
OVERWRITE_VERSIONED = 5
PERMISSIONS = {"uploads": 0x10, "downloads": 0x20, "deleteRename": 0x40, "createLinks": 0x80}
"""Fine grained API permissions (members not printed by the vendor page: stand-in's own)."""
LINKS_FOLLOW = 7
"""Follow the symlink and copy the file contents (name and value: the stand-in's own)."""
LINKS_IGNORE = 9
"""Ignore (do not copy) symbolic links (name and value: the stand-in's own)."""
TRANSFER_FLAG_NONE = 0
TRANSFER_FLAG_READ = 1
TRANSFER_FLAG_READ_WRITE = 3
TRANSFER_FLAG_WRITE = 2
TRANSFER_FLAG_WRITE_MTIME = 4
TRANSFER_FLAG_WRITE_ONLY_NEWER = 8
