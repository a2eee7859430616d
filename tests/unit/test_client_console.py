"""``jetstream-qa api``: console parsing (vendor console forms) and exit statuses.

api.md 6.1 (S14): parameters are ``--paramName=value``; ``createManifest
--fileMappings="/src/path:/dest/path"`` is source first, while Python ``mappings`` are
``{dest: src}``; the password comes from ``JETSTREAM_API_PASSWORD`` else a prompt.
api.md 6.2 (S40): shortcuts ``i``, ``ds``, ``xs``, ``ms``.
"""

from __future__ import annotations

import pytest
from test_client import FakeServer, echo

from jetstream_qa import cli, errors
from jetstream_qa.client import COMMANDS
from jetstream_qa.commands.api import parse_call
from jetstream_qa.wire.control import ErrorResponse, Message, Request


# --- parsing -----------------------------------------------------------------------------
def test_file_mappings_are_source_first_and_become_dest_to_src() -> None:
    call = parse_call(["createManifest", "--fileMappings=/src/a.txt:/dest/a.txt",
                       "--fileMappings", "/src/b:/dest/b"])
    assert call.command == "send.createManifest"
    assert call.params == {"mappings": {"/dest/a.txt": "/src/a.txt", "/dest/b": "/src/b"}}


def test_file_mappings_with_drive_letters_use_double_colon() -> None:
    call = parse_call(["send.createManifest", r"--fileMappings=C:\src\a::D:\dest\a"])
    assert call.params == {"mappings": {r"D:\dest\a": r"C:\src\a"}}


def test_malformed_file_mapping_is_a_usage_error() -> None:
    with pytest.raises(errors.UsageError, match="SRC:DEST"):
        parse_call(["createManifest", "--fileMappings=/only-src"])


@pytest.mark.parametrize(("word", "command"), [
    ("i", "getServerInfo"), ("ds", "send.getDestinations"), ("xs", "send.getTransfers"),
    ("ms", "send.getManifests"), ("server.getServerInfo", "getServerInfo"),
    ("getTransfers", "send.getTransfers"), ("recv.getSourcesAsync", "recv.getSourcesAsync"),
])
def test_command_names_and_shortcuts(word: str, command: str) -> None:
    assert parse_call([word]).command == command


def test_id_shortcuts_take_a_positional_id() -> None:
    assert parse_call(["r", "4"]).params == {"requestId": 4}
    assert parse_call(["m", "0123"]).params == {"manifestId": "0123"}
    assert parse_call(["x", "7"]).command == "send.getTransfer"


def test_values_are_json_when_they_parse_and_ids_stay_strings() -> None:
    call = parse_call(["createTransfer", "--destinationId=12", "--manifestId=1e5",
                       "--transferFlags=7", "--destinationPath=out", "--sendRateMax=null",
                       "--checkpointFrequencySeconds", "2.5"])
    assert call.params == {"destinationId": "12", "manifestId": "1e5", "transferFlags": 7,
                           "destinationPath": "out", "sendRateMax": None,
                           "checkpointFrequencySeconds": 2.5}


@pytest.mark.parametrize(("tokens", "message"), [
    ([], "no command"),
    (["getServerInf"], "did you mean getServerInfo"),
    (["send.getTransfer"], "needs --transferId"),
    (["send.getTransfers", "--transferId=1"], "does not take transferId"),
    (["send.getTransfer", "7"], "expected --paramName=value"),
    (["send.getTransfer", "--transferId"], "needs a value"),
    (["send.getTransfer", "--transferId=1", "--transferId=2"], "given 2 times"),
])
def test_bad_calls_are_usage_errors(tokens: list[str], message: str) -> None:
    with pytest.raises(errors.UsageError, match=message):
        parse_call(tokens)


# --- running (in process, against a fake server) -------------------------------------
def _main(server: FakeServer, *words: str) -> int:
    return cli.main(["api", "--api-control-port", str(server.port), "--host", "127.0.0.1",
                     "--timeout", "3", *words])


def test_prints_the_result_as_pretty_json(capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeServer()
    with server:
        assert _main(server, "xs") == 0
    out = capsys.readouterr().out
    assert out.startswith("{\n") and '"command": "send.getTransfers"' in out


def test_user_authenticates_first_and_password_is_never_printed(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETSTREAM_API_PASSWORD", "pw-XYZZY")
    server = FakeServer()
    with server:
        assert _main(server, "--user", "alice", "i") == 0
    assert [(r.command, r.params) for r in server.requests] == [
        ("auth", {"user": "alice", "password": "pw-XYZZY"}), ("getServerInfo", {})]
    captured = capsys.readouterr()
    assert "pw-XYZZY" not in captured.out + captured.err


def test_server_error_exits_1_with_code_and_message(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETSTREAM_API_PASSWORD", "wrong-pw")

    def respond(request: Request) -> Message:
        if request.command == "auth":
            return ErrorResponse(request.id, "AuthenticationFailed",
                                 "bad credentials for alice (wrong-pw)")
        return echo(request)

    server = FakeServer(respond=respond)
    with server:
        assert _main(server, "--user", "alice", "xs") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: AuthenticationFailed: bad credentials")
    assert "wrong-pw" not in err
    assert [r.command for r in server.requests] == ["auth"]


def test_transport_failure_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api", "--host", "127.0.0.1", "--api-control-port", "1", "i"]) == 3
    assert capsys.readouterr().err.startswith("error: ConnectionClosed: connection refused")


def test_no_password_source_exits_2(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JETSTREAM_API_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["api", "--api-control-port", "1", "--user", "bob", "i"]) == 2
    assert "JETSTREAM_API_PASSWORD" in capsys.readouterr().err


def test_list_commands_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api", "--list-commands"]) == 0
    out = capsys.readouterr().out
    assert "send.createTransfer --destinationId --manifestId [--destinationPath]" in out
    assert "createSharedToken --manifestId [--downloadLimit]" in out
    assert len(out.splitlines()) == len(COMMANDS) == 46
