"""refserver.registry: every documented command is registered with the documented params;
parameters are validated from the declared handler signatures."""

from __future__ import annotations

import pytest

from jetstream_qa.client import COMMANDS as CLIENT_COMMANDS
from jetstream_qa.errors import InvalidArgument
from jetstream_qa.refserver import dispatch  # noqa: F401  (registers every handler)
from jetstream_qa.refserver.registry import COMMANDS, check_params, lookup


def test_every_documented_command_is_registered_with_its_params() -> None:
    """The client's table is checked against docs/protocol.md section 3 by its own test;
    the server's registry must match it name by name and parameter by parameter."""
    assert set(COMMANDS) == set(CLIENT_COMMANDS)
    for name, spec in CLIENT_COMMANDS.items():
        cmd = COMMANDS[name]
        required = {p.name for p in cmd.params.values() if p.required}
        optional = {p.name for p in cmd.params.values() if not p.required}
        assert required == set(spec.required), name
        assert optional == set(spec.optional), name


def test_public_commands_and_superuser_commands() -> None:
    public = {n for n, c in COMMANDS.items() if not c.auth}
    assert public == {"getServerInfo", "auth", "authAsync", "authToken", "getRequestStatus",
                      "getRequestResult"}
    elevated = {n for n, c in COMMANDS.items() if c.superuser}
    assert elevated == {"getSandboxMappings", "setSandboxMapping", "updateBandwidthLimits",
                        "updateGarbageCollectSettings"}
    assert {n for n, c in COMMANDS.items() if c.is_async} == {
        "authAsync", "send.setSendRateAsync", "recv.getTransfersAsync",
        "recv.getSourcesAsync"}


@pytest.mark.parametrize(("command", "params", "param"), [
    ("send.getTransfer", {}, "transferId"),
    ("send.getTransfer", {"transferId": True}, "transferId"),
    ("send.getTransfer", {"transferId": "1"}, "transferId"),
    ("send.getTransfer", {"transferId": 1, "extra": 2}, "extra"),
    ("send.createManifest", {"mappings": []}, "mappings"),
    ("send.createTransfer", {"destinationId": "d", "manifestId": "m", "priority": 1.5},
     "priority"),
    ("auth", {"user": "a", "password": None}, "password"),
])
def test_bad_params_are_invalid_argument_naming_the_param(command: str, params: dict,
                                                          param: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_params(lookup(command), params)
    assert info.value.details["param"] == param


def test_good_params_pass() -> None:
    check_params(lookup("send.createTransfer"), {"destinationId": "d", "manifestId": "m",
                                                 "sendRateMax": None, "priority": 5,
                                                 "checkpointFrequencySeconds": 2})
    check_params(lookup("updateBandwidthLimits"), {"incomingRateLimit": None})


def test_unknown_command() -> None:
    with pytest.raises(InvalidArgument) as info:
        lookup("nope")
    assert info.value.details == {"command": "nope"}
