"""The door between the suites and a client (DESIGN.md ``binding/``).

The suites ask for operations in the vocabulary of the vendor docs (:class:`Operations`);
a :class:`Binding` turns them into calls of the client at hand: the bundled client (our
names, :func:`bundled_binding`) or the vendor's ``jetstream`` package, discovered by
introspection plus a user-editable TOML binding file (:func:`vendor_binding`,
:func:`load_binding_file`). An operation the vendor docs leave unnamed and the file leaves
unbound raises :class:`~jetstream_qa.errors.BindingMissing` naming the key to set; the
conformance plugin reports it as NOT_APPLICABLE. This package is the only code that touches a
client object on behalf of the suites.
"""

from jetstream_qa.binding._binding import (
    Binding,
    Resolved,
    binding_for,
    bundled_binding,
    vendor_binding,
)
from jetstream_qa.binding._catalogue import OPERATIONS, Operation, operation, operation_for
from jetstream_qa.binding._file import BUNDLED, BindingFile, load_binding_file
from jetstream_qa.binding._operations import DOCUMENTED_STATUSES, Operations, Refusal

__all__ = [
    "BUNDLED",
    "DOCUMENTED_STATUSES",
    "OPERATIONS",
    "Binding",
    "BindingFile",
    "Operation",
    "Operations",
    "Refusal",
    "Resolved",
    "binding_for",
    "bundled_binding",
    "load_binding_file",
    "operation",
    "operation_for",
    "vendor_binding",
]
