"""The two documents a transfer carries in chunks, sans-IO: the file list and the results.

- META (``docs/protocol.md`` 5.4): ``zlib(JSON)`` of ``{"owner": name, "files": [[destPath,
  fileSize, modificationTime µs, executable 0|1, isEmptyDir 0|1], ...]}`` with the files in
  manifest order; ``owner`` is the sending transfer's owner and picks the receiver's sandbox.
  A receiver also accepts the bare file list (no owner), and inflates at most
  :data:`META_INFLATED_LIMIT` bytes. The sender encodes (``sender.py``), the receiver parses
  (``receiver_model.RxTransfer.open_storage``).
- Results (5.7): ``zlib(JSON)`` of the per-file results ``[{destPath, outcome, detail}]``,
  carried back in FIN_ACK chunks; the receiver encodes, the sender decodes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any, Final

from jetstream_qa.errors import ProtocolError, UsageError
from jetstream_qa.refserver.engine.decide import Entry

__all__ = ["META_INFLATED_LIMIT", "RESULTS_INFLATED_LIMIT", "decode_results", "encode_entries",
           "encode_meta", "encode_results", "parse_entries", "parse_meta"]

META_INFLATED_LIMIT: Final = 256 << 20
"""Most bytes a META inflates to (5.4: "inflates (at most 256 MiB)")."""
RESULTS_INFLATED_LIMIT: Final = 256 << 20
"""Most bytes the per-file results inflate to (ours, as for META)."""


def encode_entries(entries: Sequence[Entry]) -> list[list[Any]]:
    """The META file list: ``[[destPath, size, mtimeUs, executable, isEmptyDir], ...]``."""
    return [[e.dest_path, e.size, e.mtime_us, int(e.executable), int(e.is_empty_dir)]
            for e in entries]


def encode_meta(entries: Sequence[Entry], owner: str) -> dict[str, Any]:
    """The META document: ``{"owner": name, "files": encode_entries(...)}``."""
    return {"owner": owner, "files": encode_entries(entries)}


def parse_meta(value: Any) -> tuple[list[Entry], str | None]:
    """Validate a decoded META (the object of :func:`encode_meta`, or the bare file list).
    Raises ProtocolError."""
    if isinstance(value, dict):
        owner = value.get("owner")
        if not isinstance(owner, str) or len(owner) > 256 or set(value) != {"owner", "files"}:
            raise ProtocolError("META must be {owner: string, files: [...]}")
        return parse_entries(value["files"]), owner
    return parse_entries(value), None


def parse_entries(value: Any) -> list[Entry]:
    """Validate a decoded META file list. Raises ProtocolError."""
    if not isinstance(value, list):
        raise ProtocolError("file list must be a JSON array")
    out = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 5 and isinstance(item[0], str)
                and all(isinstance(x, int) and not isinstance(x, bool) for x in item[1:])
                and item[1] >= 0 and item[3] in (0, 1) and item[4] in (0, 1)):
            raise ProtocolError("bad file list entry")
        try:
            out.append(Entry(item[0], item[1], item[2], bool(item[3]), bool(item[4])))
        except (ValueError, UsageError) as exc:
            raise ProtocolError(f"bad file list entry: {exc}") from None
    return out


# --- results -----------------------------------------------------------------------------
def encode_results(results: list[dict[str, Any]]) -> bytes:
    """The results document of a finished transfer (what FIN_ACK chunks carry)."""
    return zlib.compress(json.dumps(results, separators=(",", ":")).encode())


def decode_results(raw: bytes) -> list[dict[str, Any]]:
    """The per-file results from their document.

    Raises:
        ProtocolError: not zlib, not JSON, or not a list of objects.
    """
    try:
        results = json.loads(zlib.decompressobj().decompress(raw, RESULTS_INFLATED_LIMIT))
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ValueError("results must be a list of objects")
    except (ValueError, zlib.error):
        raise ProtocolError("receiver sent unreadable per-file results") from None
    return results
