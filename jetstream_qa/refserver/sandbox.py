"""Sandboxes: which part of the server's file system a user's transfers read and write.

Vendor text (``shared/jetstream-docs/server.md`` 6 and ``api.md`` 4.13, Sandboxing pages
S25/S26/S33):

- "No sandbox => users see the whole root (``/``)"; ``--sandbox-dir /data`` sandboxes all
  users below a path and equals ``setSandboxMapping("", {"": "/data"})``; a mapping for a
  user name applies to that user, ``""`` to every user ("two levels: all users, and
  per-user"); ``getSandboxMappings``/``setSandboxMapping`` are superuser only.
- Placeholders: ``%u`` user, ``%d`` domain, ``%f`` full user name, ``%%`` a literal ``%``.
- A received file lands at ``/<receiver sandbox>/<destinationPath>/<file target path>``;
  "with ``--sandbox-dir /data``, paths outside ``/data`` are invisible/refused".

Choices of the reference server (OURS, ``docs/semantics.md`` "Sandboxes"):

- The storage root stands for the vendor's ``/``: a sandbox path ``/data`` is
  ``STORAGE_ROOT/data`` on disk, for receiving and for reading sources alike.
- Our users have no domain: ``%d`` expands to nothing and ``%f`` to the user name. A user
  name that would make the expanded path climb (``/``, ``..``) gets no sandbox at all: the
  call is refused (:class:`PermissionDenied`).
- Only the default virtual root ``""`` exists; a mapping naming another root is refused.
- Without a sandbox a user reads sources anywhere the server process may, except the
  server's own state directory (keys, passwords, state): the vendor's server impersonates
  the user, whose OS permissions keep them out of its state, and ours runs as one account.
  An elevated superuser session is never sandboxed; the state directory stays closed to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from jetstream_qa.errors import InvalidArgument, PermissionDenied

__all__ = ["SourceArea", "expand", "normalise_mapping", "sandbox_path", "source_area"]

_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)


def _check_path(path: str, what: str) -> None:
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts or "\x00" in path:
        raise InvalidArgument(f"{what}: path must be absolute without '..'",
                              details={"param": "mapping"})
    for match in _PLACEHOLDER.finditer(path):
        if match.group(1) not in "udf%":
            raise InvalidArgument(f"{what}: unknown placeholder %{match.group(1)} (known: "
                                  "%u, %d, %f, %%)", details={"param": "mapping"})
    if path.endswith("%") and not path.endswith("%%"):
        raise InvalidArgument(f"{what}: a lone '%' at the end", details={"param": "mapping"})


def normalise_mapping(mapping: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """``{"": "/path"}`` or ``{"": {"type": "File", "path": ...}}`` -> the stored form.

    Raises:
        InvalidArgument: a root other than ``""``, a type other than File, a relative path,
            a ``..`` component or an unknown placeholder.
    """
    if not isinstance(mapping, Mapping):
        raise InvalidArgument("mapping must be an object", details={"param": "mapping"})
    out: dict[str, dict[str, str]] = {}
    for root, spec in mapping.items():
        if root != "":
            raise InvalidArgument(f"sandbox root {root!r}: the reference server has only the "
                                  "default root ''", details={"param": "mapping", "root": root})
        if isinstance(spec, str):
            spec = {"type": "File", "path": spec}
        if not isinstance(spec, dict) or spec.get("type", "File") != "File":
            raise InvalidArgument(f"sandbox {root!r}: only File sandboxes ({{'type': 'File', "
                                  "'path': ...}} or a path string) are supported",
                                  details={"param": "mapping", "root": root})
        path = spec.get("path")
        if not isinstance(path, str):
            raise InvalidArgument(f"sandbox {root!r}: path must be a string",
                                  details={"param": "mapping", "root": root})
        _check_path(path, f"sandbox {root!r}")
        out[root] = {"type": "File", "path": path}
    return out


def expand(path: str, user: str) -> str:
    """``path`` with ``%u``/``%f`` -> ``user``, ``%d`` -> nothing, ``%%`` -> ``%``,
    normalised (``//`` and ``.`` dropped).

    Raises:
        PermissionDenied: the user name would take the path elsewhere (``/``, ``..``, NUL).
    """
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in "uf" and ("/" in user or "\x00" in user or user in ("", ".", "..")):
            raise PermissionDenied(f"user name {user!r} cannot be placed in a sandbox path",
                                   details={"user": user})
        return {"u": user, "f": user, "d": "", "%": "%"}[key]

    expanded = _PLACEHOLDER.sub(value, path)
    parts = [p for p in expanded.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def sandbox_path(mappings: Mapping[str, Mapping[str, Mapping[str, str]]],
                 user: str | None) -> str | None:
    """The expanded sandbox of ``user`` (its own mapping, else the all-users one), as a
    virtual absolute path; None when no sandbox applies."""
    spec = mappings.get(user, {}).get("") if user is not None else None
    if spec is None:
        spec = mappings.get("", {}).get("")
    if spec is None:
        return None
    return expand(spec["path"], user or "")


def physical(storage_root: str, virtual: str) -> str:
    """Where a sandbox path lives on disk: below the (real) storage root."""
    return os.path.join(storage_root, virtual.lstrip("/"))


@dataclass(frozen=True, slots=True)
class SourceArea:
    """Where a manifest may read: below ``base`` (None: anywhere), never in ``denied``.

    ``base`` is a real path; source paths given by the user are virtual (below ``base``)
    when it is set, absolute file-system paths otherwise.
    """

    base: str | None
    denied: tuple[str, ...]

    def physical(self, src: str) -> str:
        """The file-system path of the user's source path ``src``."""
        if self.base is None:
            return src
        return os.path.join(self.base, os.path.normpath(src).lstrip("/"))

    def virtual(self, path: str) -> str:
        """The user's view of file-system path ``path`` (inverse of :meth:`physical`)."""
        if self.base is None or not _within(path, self.base):
            return path
        rest = os.path.relpath(path, self.base)
        return "/" if rest == "." else "/" + rest

    def allows(self, path: str) -> bool:
        """True when ``path``, with every symlink resolved, lies inside the area."""
        return self.contains(os.path.realpath(path))

    def contains(self, real: str) -> bool:
        """True when ``real`` (a path without symlinks) lies inside the area."""
        if any(_within(real, d) for d in self.denied):
            return False
        return self.base is None or _within(real, self.base)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def source_area(mappings: Mapping[str, Mapping[str, Mapping[str, str]]], *, user: str,
                elevated: bool, storage_root: str, state_dir: str) -> SourceArea:
    """The area a manifest of ``user`` may read (module docstring).

    Raises:
        PermissionDenied: the user's sandbox path cannot be expanded safely.
    """
    denied = (os.path.realpath(state_dir),)
    if elevated:
        return SourceArea(None, denied)
    virtual = sandbox_path(mappings, user)
    if virtual is None:
        return SourceArea(None, denied)
    return SourceArea(physical(os.path.realpath(storage_root), virtual), denied)
