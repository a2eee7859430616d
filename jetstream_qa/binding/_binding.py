"""A client's binding: the catalogue resolved against one client package and a binding file.

:class:`Binding` answers, for one API object, "which callable performs this operation, and
under which keywords does it take these parameters?" It looks first at the binding file, then
at the vendor's documented name, and checks both against the real object (``getattr``,
``inspect.signature``). Anything the docs do not name and the file does not bind raises
:class:`~jetstream_qa.errors.BindingMissing` naming the key to set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from jetstream_qa.binding import _discover as discover
from jetstream_qa.binding._catalogue import OPERATIONS, Operation
from jetstream_qa.binding._file import BUNDLED, EMPTY, BindingFile, load_binding_file
from jetstream_qa.errors import BindingMissing, ConfigurationError

__all__ = ["Binding", "Resolved", "binding_for", "bundled_binding", "vendor_binding"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """How an operation is made: the callable and a sentence saying how it was found."""

    call: Callable[..., Any]
    how: str
    raw: Callable[..., Any]
    """The client's own method, behind any recording wrapper."""
    name: str
    """``namespace.method`` as called."""


@dataclass(frozen=True, slots=True)
class Binding:
    """The binding of one client package (``bundled`` or ``vendor``)."""

    kind: str
    file: BindingFile
    constants: ModuleType
    refusal_classes: tuple[type[BaseException], ...]
    refusal_source: str

    # --- methods ----------------------------------------------------------------------
    def method_path(self, api: Any, op: Operation) -> tuple[str, str, str]:
        """(namespace attribute, method name, how) of ``op``; BindingMissing if unnamed."""
        if op.name in self.file.methods:
            namespace, _, method = self.file.methods[op.name].rpartition(".")
            return namespace, method, f"binding file [methods] {op.name}"
        if not op.method:
            raise BindingMissing(op.name, f"the vendor docs name no method to {op.purpose}",
                                 key=f"[methods] {op.name}")
        namespace, _, method = op.method.partition(".")
        if namespace == "receive":
            found = self.file.receive_namespace or discover.find_namespace(api, method)
            if not found:
                raise BindingMissing(op.name, "the receive namespace's attribute is not "
                                     "documented", key="[client] receive_namespace")
            return found, method, f"documented {op.method} (namespace api.{found})"
        return namespace, method, f"documented {op.method}"

    def resolve(self, api: Any, name: str) -> Resolved:
        """The callable of operation ``name`` on ``api``.

        Raises:
            BindingMissing: undocumented and unbound, or the client lacks the method.
        """
        op = OPERATIONS[name]
        namespace, method, how = self.method_path(api, op)
        holder = getattr(api, namespace, None)
        call = getattr(holder, method, None) if holder is not None else None
        if not callable(call):
            raise BindingMissing(name, f"the client has no api.{namespace}.{method}",
                                 key=f"[methods] {name}")
        raw = getattr(discover.inner(holder), method, call)
        return Resolved(call, how, raw, f"{namespace}.{method}")

    def keyword(self, api: Any, name: str, param: str) -> str:
        """The client's keyword for ``param`` of operation ``name``.

        Raises:
            BindingMissing: not documented and not bound, or the method does not take it.
        """
        op = OPERATIONS[name]
        word = self.file.param(name, param) or op.keyword(param)
        key = f"[params.{name}] {param}"
        if word is None:
            raise BindingMissing(name, f"the vendor docs do not name its {param!r} parameter",
                                 key=key)
        if discover.accepts(self.resolve(api, name).call, word) is False:
            raise BindingMissing(name, f"the client's method takes no {word!r} keyword",
                                 key=key)
        return word

    # --- values -----------------------------------------------------------------------
    def constant(self, name: str, *, operation: str) -> Any:
        """A constant the vendor page does not print (``symlink_follow``...), via the file."""
        path = self.file.constants.get(name)
        if path is None:
            raise BindingMissing(operation, f"the value of {name!r} is not documented",
                                 key=f"[constants] {name}")
        return self._lookup(path, f"[constants] {name}")

    def permission_bits(self, names: tuple[str, ...], *, operation: str) -> int:
        """OR of the client's ``PERMISSIONS`` values for our names (UPLOAD, DOWNLOAD...)."""
        bits = 0
        for name in names:
            path = self.file.permissions.get(name)
            if path is None:
                raise BindingMissing(operation, f"PERMISSIONS member {name!r} is not "
                                     "documented", key=f"[constants.permissions] {name}")
            bits |= int(self._lookup(path, f"[constants.permissions] {name}"))
        return bits

    def _lookup(self, path: str, key: str) -> Any:
        try:
            return discover.resolve_path(self.constants, path)
        except LookupError as exc:
            raise ConfigurationError(f"binding file {self.file.source}: {key} = {path!r} is "
                                     f"not in {self.constants.__name__} ({exc})") from None


def bundled_binding() -> Binding:
    """The binding of the bundled client (complete: our names)."""
    from jetstream_qa import constants
    from jetstream_qa.errors import ServerError
    return Binding("bundled", BUNDLED, constants, (ServerError,), "bundled client")


def vendor_binding(constants: ModuleType, file: BindingFile | None = None) -> Binding:
    """The vendor package's binding: introspection plus ``file`` (if any).

    The refusal classes come from the file's ``[errors] classes``, else from the exception
    classes the package defines (found by introspection).

    Raises:
        ConfigurationError: the file names an exception class that does not exist.
    """
    file = file or EMPTY
    package = constants.__name__.partition(".")[0]
    if file.error_classes:
        try:
            classes = tuple(discover.import_class(p) for p in file.error_classes)
        except (ImportError, AttributeError, TypeError) as exc:
            raise ConfigurationError(f"binding file {file.source}: [errors] classes: {exc}"
                                     ) from None
        source = f"binding file [errors] classes ({', '.join(file.error_classes)})"
    else:
        classes = discover.exception_roots(package)
        names = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
        source = f"discovered in {package}: {names}" if classes else "none found"
    return Binding("vendor", file, constants, classes, source)


def binding_for(kind: str, constants: ModuleType, path: Path | None = None) -> Binding:
    """The binding of the run's client: ``kind`` 'bundled' or 'vendor', the client's
    constants module, and the binding file (vendor only; the bundled client needs none).

    Raises:
        ConfigurationError: the binding file is unreadable or invalid.
    """
    if kind == "bundled":
        return bundled_binding()
    return vendor_binding(constants, load_binding_file(path) if path is not None else None)
