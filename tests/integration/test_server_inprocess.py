"""The control plane in-process (ServerApp on loopback inside the test's event loop):
handler crashes become ServerError frames; pipelining; importing the server stays light."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.refserver import dispatch  # noqa: F401  (registers the real commands)
from jetstream_qa.refserver.app import ServerApp
from jetstream_qa.refserver.config import ServerConfig
from jetstream_qa.refserver.registry import COMMANDS, command
from jetstream_qa.wire.control import (
    ClientHello,
    ControlConnection,
    ErrorResponse,
    Request,
    Response,
    Role,
)


@pytest.fixture
def crashing_command() -> Iterator[str]:
    name = "testOnly.crash"

    @command(name, auth=False)
    async def crash(ctx: Any, *, kind: str = "runtime") -> None:
        if kind == "runtime":
            raise RuntimeError("boom with secret detail")
        raise KeyError("k")

    yield name
    del COMMANDS[name]


async def _session(app: ServerApp, requests: list[Request]) -> list[Any]:
    reader, writer = await asyncio.open_connection(*app.api_address)
    conn = ControlConnection(Role.CLIENT)
    writer.write(conn.send(ClientHello(40)))
    out: list[Any] = []
    while not out:
        out.extend(conn.receive_data(await asyncio.wait_for(reader.read(65536), 10)))
    writer.write(b"".join(conn.send(r) for r in requests))
    answers: list[Any] = []
    while len(answers) < len(requests):
        answers.extend(conn.receive_data(await asyncio.wait_for(reader.read(65536), 10)))
    writer.close()
    return answers


def _config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(storage_root=tmp_path / "s", state_dir=tmp_path / "st",
                        users={"alice": "pw"}, api_port=0, recv_port=0)


def test_handler_exception_is_server_error_and_server_keeps_serving(
        tmp_path: Path, crashing_command: str) -> None:
    async def scenario() -> list[Any]:
        app = ServerApp(_config(tmp_path))
        await app.start()
        try:
            return await _session(app, [
                Request(1, crashing_command, {}), Request(2, crashing_command, {"kind": "k"}),
                Request(3, "getServerInfo", {})])
        finally:
            await app.stop()

    answers = {a.id: a for a in asyncio.run(asyncio.wait_for(scenario(), 30))}
    for rid in (1, 2):
        assert isinstance(answers[rid], ErrorResponse) and answers[rid].code == "ServerError"
        assert "secret" not in answers[rid].message
    assert isinstance(answers[3], Response) and answers[3].result["apiVersion"] == 40


def test_importing_server_leaves_locust_and_gevent_out() -> None:
    code = ("import sys, jetstream_qa.refserver.app, jetstream_qa.refserver.embedded, "
            "jetstream_qa.commands.serve, jetstream_qa.refserver.dispatch; "
            "import threading; "
            "assert 'locust' not in sys.modules and 'gevent' not in sys.modules; "
            "assert threading.active_count() == 1")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
