"""What a client offers the suites: one row per operation and parameter, and a starter
binding file. Pure data (no printing): ``jetstream-qa vendor-probe`` renders it.

Each row says whether the suites can make the operation (``bound``), how (the documented
name, or the binding-file key that supplies it), or which key is missing and what the
client offers that might fill it (its undocumented methods or keywords).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from jetstream_qa.binding import _discover as discover
from jetstream_qa.binding._binding import Binding
from jetstream_qa.binding._catalogue import DOCUMENTED_METHODS, OPERATIONS, Operation
from jetstream_qa.binding._file import STATUS_NAMES
from jetstream_qa.errors import BindingMissing

__all__ = ["ProbeRow", "probe_rows", "starter_binding"]

_CONSTANT_GROUPS = ("API_", "BUILD_", "DEFAULT_", "FILETYPE_", "MIN_CIPHER_", "OVERWRITE_",
                    "TRANSFER_FLAG_")


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """One line of the probe: ``what`` (``create_transfer`` or ``create_transfer.overwrite``),
    ``bound``, ``how`` (call or key), ``missing`` (key to set), ``candidates`` (hints)."""

    what: str
    bound: bool
    how: str
    missing: str = ""
    candidates: tuple[str, ...] = ()


def _method_candidates(api: Any, namespace: str) -> tuple[str, ...]:
    holder = getattr(discover.inner(api), namespace, None) if namespace else None
    spaces = [namespace] if holder is not None else ["server", "send"]
    out = []
    for space in spaces:
        obj = getattr(discover.inner(api), space, None)
        if obj is not None:
            out += [f"{space}.{m}" for m in discover.public_methods(obj)
                    if m not in DOCUMENTED_METHODS]
    return tuple(out)


def _param_candidates(method: Any, op: Operation) -> tuple[str, ...]:
    try:
        names = list(inspect.signature(discover.inner(method)).parameters)
    except (TypeError, ValueError):
        return ()
    documented = {word for _, word in op.documented}
    return tuple(n for n in names if n not in documented and n != "self")


def _op_rows(binding: Binding, api: Any, op: Operation) -> list[ProbeRow]:
    try:
        resolved = binding.resolve(api, op.name)
    except BindingMissing as exc:
        return [ProbeRow(op.name, False, op.purpose, exc.key,
                         _method_candidates(api, op.namespace))]
    rows = [ProbeRow(op.name, True, f"{resolved.name}  [{resolved.how}]")]
    for param in [p for p, _ in op.documented] + list(op.bound):
        try:
            word = binding.keyword(api, op.name, param)
        except BindingMissing as exc:
            rows.append(ProbeRow(f"{op.name}.{param}", False, "", exc.key,
                                 _param_candidates(resolved.raw, op)))
            continue
        source = "binding file" if binding.file.param(op.name, param) else "documented"
        rows.append(ProbeRow(f"{op.name}.{param}", True, f"{word}=  [{source}]"))
    return rows


def _value_rows(binding: Binding) -> list[ProbeRow]:
    consts = binding.constants
    extra = tuple(n for n in dir(consts) if n.isupper() and not n.startswith(_CONSTANT_GROUPS))
    rows = []
    for name in ("symlink_follow", "symlink_ignore"):
        path = binding.file.constants.get(name)
        rows.append(ProbeRow(f"constant {name}", bool(path), path or "",
                             "" if path else f"[constants] {name}", () if path else extra))
    for name in ("UPLOAD", "DOWNLOAD", "DELETE_RENAME", "CREATE_LINKS"):
        path = binding.file.permissions.get(name)
        rows.append(ProbeRow(f"permission {name}", bool(path), path or "",
                             "" if path else f"[constants.permissions] {name}",
                             () if path else extra))
    for name in STATUS_NAMES:
        spelling = binding.file.statuses.get(name)
        rows.append(ProbeRow(f"status {name}", bool(spelling), spelling or "",
                             "" if spelling else f"[statuses] {name}"))
    classes = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in binding.refusal_classes)
    rows.append(ProbeRow("refusal exception", bool(classes), binding.refusal_source,
                         "" if classes else "[errors] classes"))
    mapped = bool(binding.file.error_codes and binding.file.error_code_attribute)
    rows.append(ProbeRow("refusal kinds", mapped,
                         f"{binding.file.error_code_attribute} -> {len(binding.file.error_codes)}"
                         " codes" if mapped else "",
                         "" if mapped else "[errors] code_attribute, [errors.codes]"))
    return rows


def probe_rows(binding: Binding, api: Any) -> list[ProbeRow]:
    """Every operation, parameter and value the suites use, against ``api`` (unconnected)."""
    rows: list[ProbeRow] = []
    for op in OPERATIONS.values():
        rows.extend(_op_rows(binding, api, op))
    return rows + _value_rows(binding)


def _toml_value(key: str, candidates: tuple[str, ...]) -> str:
    """``# name = ""   # candidates: ...`` for key ``[table] name`` (a bare ``[table]``:
    an example entry)."""
    name = key.partition("] ")[2]
    if not name:
        return '# CLIENT_CODE = "AuthenticationFailed"   # one line per code of the client'
    hint = f"   # candidates: {', '.join(candidates)}" if candidates else ""
    return f'# {name} = ""{hint}'


def starter_binding(binding: Binding, api: Any, *, origin: str) -> str:
    """A TOML binding file: what is bound stays as found, each missing key appears as a
    commented line with the client's candidates, for a QA engineer to fill in."""
    rows = [r for r in probe_rows(binding, api) if not r.bound and r.missing]
    tables: dict[str, list[str]] = {}
    for row in rows:
        for key in row.missing.split(", "):
            table = key.partition("]")[0].lstrip("[")
            tables.setdefault(table, []).append(_toml_value(key, row.candidates))
    lines = [f"# Starter binding file for {origin}", "# written by jetstream-qa vendor-probe:"
             " uncomment and fill each key; docs/staging.md explains the format.", ""]
    receive = binding.file.receive_namespace or discover.find_namespace(api,
                                                                        "getTransfersAsync")
    lines += ["[client]", f'receive_namespace = "{receive or ""}"', ""]
    for table, entries in tables.items():
        lines += [f"[{table}]", *dict.fromkeys(entries), ""]
    return "\n".join(lines)
