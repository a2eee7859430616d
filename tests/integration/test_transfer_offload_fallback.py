"""Transfers with UDP offload forced off, and at the former 64 KB loopback datagrams.

Requirement (issue 13; docs/protocol.md 5): the engine delivers byte-exact at every
MIN_CIPHER level whether DATA leaves in GSO batches (the default, covered by
test_transfer_data_plane.py) or one datagram per system call (``serve --udp-offload off``,
the path taken where the kernel lacks UDP_SEGMENT/UDP_GRO), and ``--max-datagram 65000``
stays available for the benches that compare with the old figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from transfer_helpers import assert_counters, assert_tree, make_tree, send_tree

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair

pytestmark = pytest.mark.timeout(240)

SIZES = [0, 1, 257, 100_000, 1_000_003]
VARIANTS = {"offload-off": ["--udp-offload", "off"], "datagram-65000": ["--max-datagram",
                                                                        "65000"]}


@pytest.fixture(scope="module", params=list(VARIANTS))
def pair(request: pytest.FixtureRequest) -> Iterator[EmbeddedPair]:
    with EmbeddedPair(extra_args=VARIANTS[request.param]) as p:
        yield p


@pytest.mark.parametrize("cipher", [0, 1, 2, 3])
def test_each_cipher_delivers_byte_exact(tmp_path: Path, pair: EmbeddedPair,
                                         cipher: int) -> None:
    files = make_tree(tmp_path / "src", cipher, SIZES)
    with JetStream().api("127.0.0.1", pair.sender.api_port, timeout=30) as api:
        api.server.auth(pair.user.name, pair.user.password)
        t = send_tree(api, pair, tmp_path / "src", f"c{cipher}", minCipher=cipher)
    assert t["status"] == "complete", t["errorMessage"]
    assert t["effectiveCipher"] == cipher
    assert_counters(t, sum(SIZES))
    assert_tree(pair.receiver.storage_root / f"c{cipher}", files)
