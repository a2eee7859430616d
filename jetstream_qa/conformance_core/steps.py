"""Common steps of conformance cases, through the documented API surface only.

Small building blocks the suites share (create a complete manifest of a file set, a
destination pointing at the receiver, a transfer between them). Each step returns the
structure the server answered and leaves failures to :mod:`jetstream_qa.expect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jetstream_qa import expect
from jetstream_qa.conformance_core.target import Target

__all__ = ["complete_manifest", "destination_to_receiver", "start_transfer"]


def complete_manifest(api: Any, mappings: Mapping[str, str], *, timeout: float,
                      **options: Any) -> dict[str, Any]:
    """``createManifest(mappings=...)`` and wait until it is complete.

    Raises:
        CaseFailure: the manifest did not complete within ``timeout``.
    """
    created = api.send.createManifest(mappings=dict(mappings), **options)
    return expect.manifest_complete(api, created["manifestId"], timeout=timeout)


def destination_to_receiver(api: Any, target: Target, **options: Any) -> dict[str, Any]:
    """``createDestination`` aimed at the receiver's UDP data address."""
    data = target.data_address
    return dict(api.send.createDestination(destinationAddress=data.host,
                                           destinationPort=data.port, **options))


def start_transfer(api: Any, target: Target, mappings: Mapping[str, str], *,
                   destination_path: str, timeout: float,
                   **options: Any) -> dict[str, Any]:
    """Manifest + destination + ``createTransfer``; returns the new Transfer structure."""
    manifest = complete_manifest(api, mappings, timeout=timeout)
    destination = destination_to_receiver(api, target)
    return dict(api.send.createTransfer(destinationId=destination["destinationId"],
                                        manifestId=manifest["manifestId"],
                                        destinationPath=destination_path, **options))
