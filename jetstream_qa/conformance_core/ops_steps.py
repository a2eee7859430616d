"""Steps every suite shares, made through the binding (``js_ops(api)``), so they work with
the bundled client and with the vendor's package alike.

A manifest made complete, a destination aimed at the receiver's UDP address, a transfer
between them, ``must_refuse`` and ``hidden_from_other_user``: the documented outcome of a
refused call is that it raised (or returned an error structure); which *kind* of refusal is
our taxonomy, so a different kind is recorded as INFO, never FAIL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jetstream_qa import expect
from jetstream_qa.binding import Operations

__all__ = [
    "complete_manifest",
    "destination_to_receiver",
    "hidden_from_other_user",
    "must_refuse",
    "start_transfer",
]


def complete_manifest(ops: Operations, mappings: Mapping[str, str], *, timeout: float,
                      symlink: str | None = None) -> dict[str, Any]:
    """``createManifest(mappings=...)`` and wait until it is complete (CaseFailure if not)."""
    created = ops.create_manifest(dict(mappings), symlink=symlink)
    return expect.manifest_complete(ops.api, created["manifestId"], timeout=timeout)


def destination_to_receiver(ops: Operations, target: Any, **options: Any) -> dict[str, Any]:
    """``createDestination`` aimed at the receiver's UDP data address."""
    data = target.data_address
    return ops.create_destination(data.host, data.port, **options)


def start_transfer(ops: Operations, target: Any, mappings: Mapping[str, str], *,
                   destination_path: str, timeout: float, **options: Any) -> dict[str, Any]:
    """Manifest + destination + ``createTransfer`` (``options`` in our names: flags,
    overwrite, min_cipher, priority...); returns the new Transfer structure."""
    manifest = complete_manifest(ops, mappings, timeout=timeout)
    destination = destination_to_receiver(ops, target)
    return ops.create_transfer(destination["destinationId"], manifest["manifestId"],
                               destination_path=destination_path, **options)


def must_refuse(ops: Any, call: Callable[[], Any], *, requirement: str, kinds: tuple[str, ...],
                js_info: Callable[[str], None], api: Any = None) -> Any:
    """``call`` must be refused (MUST); a refusal of another kind than ``kinds`` (the
    reference protocol's) is recorded as INFO. Returns the Refusal."""
    refusal = ops.refused(call)
    expect.that(requirement, refusal.refused, expected="the call is refused (raises)",
                actual=refusal.describe(), api=api if api is not None else ops.api)
    if refusal.kind_in(*kinds) is False:
        js_info(f"{requirement}: refused as {refusal.kind} ({refusal.message[:80]}); the "
                f"reference protocol says {' or '.join(kinds)}")
    return refusal


def hidden_from_other_user(other: Any, noun: str, object_id: Any, *, kinds: tuple[str, ...],
                           js_info: Callable[[str], None], api: Any) -> None:
    """Another user (``other``: the binding of their session) can neither get the ``noun``
    (``manifest``, ``destination``, ``transfer``) with id ``object_id`` (``get_<noun>`` must be
    refused, as one of ``kinds`` or INFO) nor find it in their ``get_<noun>s`` list (MUST).

    Raises:
        CaseFailure: the get is not refused, or the list holds the id.
    """
    must_refuse(other, lambda: other.call(f"get_{noun}", object_id), kinds=kinds,
                requirement=f"another user cannot get the {noun}", js_info=js_info, api=api)
    listed = [entry.get(f"{noun}Id") for entry in other.call(f"get_{noun}s")]
    expect.that(f"another user's {noun} list does not hold the {noun}", object_id not in listed,
                expected=f"{object_id} absent", actual=f"listed among {len(listed)}", api=api)
