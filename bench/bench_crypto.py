"""Benchmark (b): ENCRYPTED_256 goodput vs single-core AES-256-GCM ``encrypt_into``.

    python bench/bench_crypto.py [--size BYTES] [--max-datagram 1400|65000]

Network only (TRANSFER_FLAG_NONE) so only the protocol and the cipher are measured; the
baseline seals 64 KB payloads in place, in one thread, AES at its best (target ratio >= 0.4x
at any datagram size). The engine runs at ``--max-datagram`` (default 1400, the serve
default; 65000 gives the former loopback figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _transfer import GIB, data_datagram, mb, median, raw_udp_blast, sparse_file, timed_transfer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jetstream_qa.refserver.embedded import EmbeddedPair

PAYLOAD = 253 * 256


def aes_gcm_rate(total: int, payload: int = PAYLOAD, *, opening: bool = False) -> float:
    """Bytes/s of single-core AES-256-GCM ``encrypt_into`` sealing ``payload``-byte bodies
    in place (28 bytes of header as associated data) until ``total`` bytes are sealed; with
    ``opening``, of ``decrypt_into`` opening one sealed body as often."""
    aead = AESGCM(os.urandom(32))
    mv = memoryview(bytearray(os.urandom(payload + 16 + 28)))
    nonce, aad, body = bytes(12), mv[:28], mv[28:28 + payload + 16]
    aead.encrypt_into(nonce, mv[28:28 + payload], aad, body)
    plain = memoryview(bytearray(payload))
    n = total // payload
    t0 = time.perf_counter()
    for i in range(n):
        if opening:
            aead.decrypt_into(nonce, body, aad, plain)
        else:
            aead.encrypt_into(i.to_bytes(12, "big"), mv[28:28 + payload], aad, body)
    return n * payload / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=GIB)
    parser.add_argument("--max-datagram", type=int, default=1400,
                        help="serve --max-datagram (65000: the former loopback figure)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ratios, blast_ratios, bound_ratios, ceilings, two_core = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="jsqa-bench-") as tmp:
        src = sparse_file(Path(tmp) / "src" / "blob.bin", args.size)
        with EmbeddedPair(extra_args=["--max-datagram", str(args.max_datagram)]) as pair:
            for r in range(args.rounds):
                base = aes_gcm_rate(args.size)
                blast = raw_udp_blast(args.size, data_datagram(args.max_datagram))
                t = timed_transfer(pair, src.parent, f"enc{r}", transferFlags=0, minCipher=3)
                ratios.append(t["goodput"] / base)
                blast_ratios.append(t["goodput"] / blast["recvRate"])
                # the sender seals then sends each datagram on one thread (AESGCM holds the
                # GIL): even with no Python at all it cannot beat AES and the UDP send in series
                serial = 1 / (1 / base + 1 / blast["sentRate"])
                bound_ratios.append(t["goodput"] / serial)
                ceilings.append(serial / base)
                # both servers share 2 cores: per byte someone seals, sends, receives, opens;
                # with no interpreter work at all and perfect overlap, 2 cores do no better
                per_byte = (1 / base + 1 / aes_gcm_rate(args.size, opening=True)
                            + 1 / blast["sentRate"] + 1 / blast["recvRate"])
                two_core.append(2 / per_byte / base)
                print(f"round {r}: engine ENCRYPTED_256 {mb(t['goodput'])} "
                      f"({t['engineSeconds']:.2f} s, retransmitted {t['blocksRetransmitted']}"
                      f" blocks)   AES-256-GCM encrypt_into 1 core {mb(base)}   raw UDP blast "
                      f"received {mb(blast['recvRate'])}   ratio {ratios[-1]:.2f}x")
    print(f"RATIO engine / AES-256-GCM (median of {args.rounds}) = {median(ratios):.2f}x "
          f"(target >= 0.4x)")
    print(f"context: engine ENCRYPTED_256 / raw UDP blast = {median(blast_ratios):.2f}x "
          f"(a raw Python UDP blast of the same datagrams, no protocol and no cipher)")
    print(f"context: engine / serial bound 1/(1/AES + 1/blast send) = "
          f"{median(bound_ratios):.2f}x; that bound / AES = {median(ceilings):.2f}x (the most "
          f"the RATIO can reach with seal and send of a datagram in series)")
    print(f"context: two-core ceiling 2 / (seal + open + send + receive per byte) / AES = "
          f"{median(two_core):.2f}x (the most any engine on 2 cores can reach, with no "
          f"interpreter work and every step overlapped; this machine has {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
