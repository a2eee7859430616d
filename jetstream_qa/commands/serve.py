"""``jetstream-qa serve``: run one reference JetStream server in the foreground.

Prints exactly one line to stdout when both planes listen::

    jetstream-qa serve ready api=HOST:PORT recv=HOST:PORT serverId=ID

logs to stderr (never a password), and stops cleanly on SIGINT/SIGTERM with exit status 0.
Exit status 2 = bad configuration, 1 = could not start (e.g. port in use).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.refserver.config import ServerConfig, config_from_args
from jetstream_qa.refserver.config import add_arguments as add_server_arguments

__all__ = ["HELP", "add_arguments", "format_address", "run"]

HELP = "Run a reference JetStream server (control plane + data plane)."
READY_PREFIX = "jetstream-qa serve ready"
log = logging.getLogger("jetstream_qa.refserver")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_server_arguments(parser)
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def format_address(host: str, port: int) -> str:
    """``HOST:PORT`` (IPv6 hosts in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _serve(config: ServerConfig) -> int:
    from jetstream_qa.refserver.app import ServerApp

    app = ServerApp(config)
    try:
        await app.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        await app.stop()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api, recv = app.api_address, app.recv_address
    print(f"{READY_PREFIX} api={format_address(*api)} recv={format_address(*recv)} "
          f"serverId={app.server_id}", flush=True)
    await stop.wait()
    log.info("stopping")
    await app.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Resolve the configuration, serve until a signal, return the exit status."""
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
    except ConfigurationError as exc:
        print(f"jetstream-qa serve: {exc.message}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(config))
