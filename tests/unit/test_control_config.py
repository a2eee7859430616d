"""refserver.config: options resolve into a frozen ServerConfig; bad values are named."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from jetstream_qa.constants import MinCipher
from jetstream_qa.errors import ConfigurationError
from jetstream_qa.refserver.config import (
    ServerConfig,
    add_arguments,
    config_from_args,
    is_loopback,
)


def _parse(tmp_path: Path, *argv: str) -> ServerConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(
        ["--storage-root", str(tmp_path / "s"), "--state-dir", str(tmp_path / "st"), *argv]))


def test_defaults_and_options(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("# users\nbob:b-pass\n\ncarol:c:with:colons\n")
    cfg = _parse(tmp_path, "--user", "alice:a-pass", "--password-file", str(pw),
                 "--superuser", "alice", "--min-cipher", "3", "--no-allow-remote-control",
                 "--fault", "leak-transfers,leak-manifests", "--fault", "counters-lie",
                 "--incoming-rate-limit", "1000000", "--no-persistent-state",
                 "--handshake-timeout", "0.5")
    assert cfg.users == {"alice": "a-pass", "bob": "b-pass", "carol": "c:with:colons"}
    assert cfg.superusers == {"alice"} and cfg.min_cipher is MinCipher.ENCRYPTED_256
    assert cfg.allow_remote_control is False and cfg.persistent_state is False
    assert cfg.faults == {"leak-transfers", "leak-manifests", "counters-lie"}
    assert cfg.has_fault("counters-lie") and not cfg.has_fault("corrupt-block")
    assert cfg.incoming_rate_limit == 1_000_000 and cfg.rate_limits_fixed
    assert cfg.handshake_timeout == 0.5 and cfg.idle_timeout == 300
    assert cfg.api_port == 8886 and cfg.max_connections == 256
    assert "a-pass" not in repr(cfg)
    assert cfg.check_password("alice", "a-pass") and not cfg.check_password("alice", "x")
    assert not cfg.check_password("nobody", "a-pass")
    with pytest.raises(AttributeError):
        cfg.api_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("argv", "option", "value"), [
    (["--api-port", "70000"], "--api-port", "70000"),
    (["--recv-port", "x"], "--recv-port", "x"),
    (["--min-cipher", "4"], "--min-cipher", "4"),
    (["--max-connections", "0"], "--max-connections", "0"),
    (["--idle-timeout", "0"], "--idle-timeout", "0"),
    (["--max-frame", "10"], "--max-frame", "10"),
    (["--outgoing-rate-limit", "-5"], "--outgoing-rate-limit", "-5"),
    (["--superuser", "ghost"], "--superuser", "ghost"),
    (["--max-datagram", "100"], "--max-datagram", "100"),
    (["--max-datagram", "70000"], "--max-datagram", "70000"),
    (["--open-give-up", "0"], "--open-give-up", "0"),
])
def test_bad_values_name_option_and_value(tmp_path: Path, argv: list[str], option: str,
                                          value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _parse(tmp_path, "--user", "alice:pw", *argv)
    assert info.value.details["option"] == option
    assert f"{option} '{value}'" in info.value.message


def test_bad_user_value_does_not_echo_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _parse(tmp_path, "--user", "alice:")
    assert "--user" in info.value.message
    pw = tmp_path / "pw"
    pw.write_text("good:x\nno-colon-secret\n")
    with pytest.raises(ConfigurationError) as info:
        _parse(tmp_path, "--password-file", str(pw))
    assert "no-colon-secret" not in info.value.message and ":2" in info.value.message


def test_unknown_fault_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _parse(tmp_path, "--fault", "made-up")
    assert "made-up" in info.value.message


@pytest.mark.parametrize(("host", "loop"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.0.0.1", False), ("::ffff:10.0.0.1", False), ("", False), ("garbage", False),
])
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_datagram_size_and_udp_offload_reach_the_engine(tmp_path: Path) -> None:
    """Issue 13: 1,400-byte datagrams by default, loopback included; GSO/GRO on unless
    ``--udp-offload off``; ``--max-datagram 65000`` still available."""
    from jetstream_qa.refserver.engine import Engine

    default = Engine(config=_parse(tmp_path, "--recv-host", "127.0.0.1"), state=None,
                     events=None, keys=None)
    assert (default.max_datagram, default.udp_offload) == (1400, True)
    forced = Engine(config=_parse(tmp_path, "--udp-offload", "off", "--max-datagram", "65000"),
                    state=None, events=None, keys=None)
    assert (forced.max_datagram, forced.udp_offload) == (65000, False)
    with pytest.raises(ConfigurationError, match="--udp-offload 'sometimes'"):
        ServerConfig(storage_root=tmp_path / "s", state_dir=tmp_path / "st",
                     udp_offload="sometimes")
