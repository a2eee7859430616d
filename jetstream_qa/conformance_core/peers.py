"""Deliberately unresponsive peers on loopback, for the timeout cases.

- :func:`never_answering_listener`: a TCP listener that never accepts. The kernel completes
  the TCP handshake into the backlog, so a client's connect "succeeds" at the TCP level and
  then hears nothing: its connect timeout (TCP + hello) must fire.
- :func:`mute_after_hello`: a peer that answers the client hello of the reference protocol
  (``docs/protocol.md`` 2.2) and then never answers a request: the client's request timeout
  must fire. Reference-protocol only (bundled client).

Both are context managers that yield the address and clean up (one short-lived serving
thread for the second, bounded by socket timeouts; nothing runs at import).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from jetstream_qa.conformance_core.setting_values import HostPort

__all__ = ["mute_after_hello", "never_answering_listener"]


@contextlib.contextmanager
def never_answering_listener() -> Iterator[HostPort]:
    """A loopback listener that never calls ``accept()``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield HostPort("127.0.0.1", sock.getsockname()[1])


def _serve_one(sock: socket.socket, api_version: int, stop: threading.Event) -> None:
    from jetstream_qa.wire.control import ServerHello, encode_message
    sock.settimeout(0.2)
    conn = None
    while conn is None and not stop.is_set():
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
    if conn is None:
        return
    with conn:
        conn.settimeout(0.2)
        hello = encode_message(ServerHello(api_version, "mute-peer", "mute"))
        sent = False
        while not stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if not sent:
                conn.sendall(hello)
                sent = True


@contextlib.contextmanager
def mute_after_hello(*, api_version: int) -> Iterator[HostPort]:
    """A one-connection peer: answers the hello, then reads and ignores every request."""
    stop = threading.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        thread = threading.Thread(target=_serve_one, args=(sock, api_version, stop),
                                  name="jsqa-mute-peer", daemon=True)
        thread.start()
        try:
            yield HostPort("127.0.0.1", sock.getsockname()[1])
        finally:
            stop.set()
            thread.join(5.0)
