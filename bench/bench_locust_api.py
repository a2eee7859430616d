"""Benchmark: JetStreamUser API calls per second vs Locust's FastHttpUser, same invocation.

Run ``python bench/bench_locust_api.py [--users 10] [--seconds 10]``. It starts

1. two equally minimal peers outside the Locust process: a keep-alive HTTP/1.1 server and a
   reference-protocol responder, both answering the JSON body of ``send.getTransfers`` on a
   fresh pair (``[]``) with no per-request work; plus the embedded reference pair, then
2. one Locust process per run (``locust -f bench/bench_locust_api.py``, no workers) with
   ``constant(0)`` users hammering ``send.getTransfers`` / ``GET /info``, rounds interleaved,

and prints the rates (requests per second, from each Locust's own ``--json-file``), the
Locust process's CPU per request, and the ratio JetStreamUser / FastHttpUser against the
minimal peers. Target: ratio >= 1.0, i.e. the JetStream user is no slower a load generator
than FastHttpUser, so load numbers measure the server, not the client. The rate against the
reference server is printed for scale (it is bounded by that server).

This file is both the orchestrator (run as a script; never imports Locust) and the
locustfile (loaded by Locust; defines the two users).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_HTTP_URL_ENV = "JSQA_BENCH_HTTP_URL"
_JS_COMMAND = "send.getTransfers"
"""The call measured: cheap on the server (an empty list in a fresh pair), so the rate shows
the load generator (client + JetStreamUser + Locust) rather than the server's handler cost."""


# --- the minimal HTTP peer -------------------------------------------------------------
class _HttpPeer:
    """Keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with ``body``."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _HttpPeer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("HTTP peer did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(self.body))
        try:
            while True:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                if not request:
                    break
                writer.write(head + self.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()


class _JetStreamPeer(_HttpPeer):
    """Minimal reference-protocol responder (docs/protocol.md 2.1-2.2): answers the hello
    (``authRequired`` false) and every request with a canned result, doing no more work per
    request than :class:`_HttpPeer` does, so the two Locust users are compared as load
    generators."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = {"type": "hello", "role": "server", "apiVersion": 40, "serverId": "bench",
                 "version": "bench", "authRequired": False}
        info = json.dumps({"authRequired": False, "apiVersion": 40})
        try:
            await self._frame(reader)
            writer.write(_frame(json.dumps(hello).encode()))
            while True:
                request = json.loads(await self._frame(reader))
                result = info if request["command"] == "getServerInfo" else self.body.decode()
                writer.write(_frame(b'{"type": "response", "id": %d, "result": %s}'
                                    % (request["id"], result.encode())))
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _frame(reader: asyncio.StreamReader) -> bytes:
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(4), 30), "big")
        return await reader.readexactly(size)


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


# --- orchestration ---------------------------------------------------------------------
def _rate(json_file: Path, name: str) -> float:
    for row in json.loads(json_file.read_text(encoding="utf-8")):
        if row["name"] == name:
            span = row["last_request_timestamp"] - row["start_time"]
            return float(row["num_requests"]) / span if span > 0 else 0.0
    raise RuntimeError(f"no {name!r} row in {json_file}")


def _requests(json_file: Path, name: str) -> int:
    return next(int(row["num_requests"]) for row in json.loads(json_file.read_text())
                if row["name"] == name)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(user: str, name: str, args: argparse.Namespace, workdir: Path,
             env: dict[str, str], host: str | None) -> tuple[float, float]:
    """One Locust run: (requests per second, Locust-process CPU microseconds per request)."""
    before = _children_cpu()
    out = _locust(user, args, workdir, env, host)
    cpu = _children_cpu() - before
    return _rate(out, name), cpu * 1e6 / max(1, _requests(out, name))


def _locust(user: str, args: argparse.Namespace, workdir: Path, env: dict[str, str],
            host: str | None) -> Path:
    out = workdir / user
    cmd = [sys.executable, "-m", "locust", "-f", str(Path(__file__).resolve()), "--headless",
           "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s",
           "--json-file", str(out), "--js-report", str(workdir / f"{user}-load.json"),
           "--only-summary", user]
    if host:
        cmd[5:5] = ["--host", host]
    subprocess.run(cmd, env=env, cwd=workdir, check=True, timeout=args.seconds + 120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return out.with_suffix(".json")


def _print(args: argparse.Namespace, body: int, best: dict[str, tuple[float, float]]) -> None:
    print(f"users={args.users} seconds={args.seconds} rounds={args.rounds} body={body} B "
          f"load={os.getloadavg()[0]:.1f} (best round of each)")
    rows = (("js", f"JetStreamUser {_JS_COMMAND} (minimal peer)"),
            ("http", "FastHttpUser GET /info (minimal peer)"),
            ("ref", f"JetStreamUser {_JS_COMMAND} (reference server)"))
    for key, label in rows:
        rate, cpu = best[key]
        print(f"{label:<52}: {rate:9.1f} req/s  {cpu:7.1f} us Locust CPU/req")
    ratio = best["js"][0] / best["http"][0] if best["http"][0] else float("inf")
    print(f"{'ratio JetStreamUser / FastHttpUser (req/s)':<52}: {ratio:9.3f}  "
          f"(target >= 1.0: {'met' if ratio >= 1.0 else 'NOT met'})")
    print(f"{'ratio FastHttpUser / JetStreamUser (CPU per req)':<52}: "
          f"{best['http'][1] / best['js'][1]:9.3f}")


def main(argv: list[str] | None = None) -> int:
    """Run both sides and print the rates and their ratio; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from jetstream_qa.client import JetStream
    from jetstream_qa.refserver.embedded import EmbeddedPair

    with EmbeddedPair() as pair, tempfile.TemporaryDirectory(prefix="jsqa-bench-") as tmp:
        with JetStream().api("127.0.0.1", pair.sender.api_port) as api:
            api.server.auth(pair.user.name, pair.user.password)
            body = json.dumps(api.send.getTransfers()).encode()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JETSTREAM_")}
        env["JETSTREAM_API_USER"] = pair.user.name
        env["JETSTREAM_API_PASSWORD"] = pair.user.password
        workdir = Path(tmp)
        ref_host = f"jetstream://127.0.0.1:{pair.sender.api_port}"
        runs: dict[str, list[tuple[float, float]]] = {"js": [], "ref": [], "http": []}
        with _HttpPeer(body) as http_peer, _JetStreamPeer(body) as js_peer:
            env[_HTTP_URL_ENV] = f"http://127.0.0.1:{http_peer.port}"
            js_host = f"jetstream://127.0.0.1:{js_peer.port}"
            for _ in range(args.rounds):  # interleaved, best of each: the machine is shared
                runs["js"].append(_measure("JetStreamBenchUser", _JS_COMMAND, args, workdir,
                                           env, js_host))
                runs["http"].append(_measure("HttpBenchUser", "/info", args, workdir, env,
                                             None))
                runs["ref"].append(_measure("JetStreamBenchUser", _JS_COMMAND, args, workdir,
                                            env, ref_host))
    _print(args, len(body), {k: max(v) for k, v in runs.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
else:  # loaded by Locust as the locustfile
    from locust import constant, task
    from locust.contrib.fasthttp import FastHttpUser

    from jetstream_qa.locust_user import JetStreamUser, install

    install()

    class JetStreamBenchUser(JetStreamUser):
        """One cheap API call back to back through the one timing helper."""

        wait_time = constant(0)

        @task
        def list_transfers(self) -> None:
            self.call(_JS_COMMAND)

    class HttpBenchUser(FastHttpUser):
        """GET /info back to back on the minimal keep-alive HTTP peer."""

        wait_time = constant(0)
        host = os.environ.get(_HTTP_URL_ENV, "http://127.0.0.1:1")

        @task
        def info(self) -> Any:
            self.client.get("/info")
