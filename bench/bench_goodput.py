"""Benchmark (a): 1 GiB TRANSFER_FLAG_NONE at MIN_CIPHER_NONE vs a raw Python UDP blast.

    python bench/bench_goodput.py [--size BYTES] [--all-ciphers] [--max-datagram 1400|65000]

Prints the engine's goodput (totalBytes over the server's startTime..endTime), the raw blast
between two processes at the same DATA datagram size (``--max-datagram``: 1400 by default,
like serve; 65000 gives the former loopback figure), and their ratio (target >= 0.5x). With
``--all-ciphers`` it also prints goodput at MIN_CIPHER 1..3 (network only).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _transfer import GIB, data_datagram, mb, median, raw_udp_blast, sparse_file, timed_transfer

from jetstream_qa.refserver.embedded import EmbeddedPair


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=GIB)
    parser.add_argument("--all-ciphers", action="store_true")
    parser.add_argument("--max-datagram", type=int, default=1400,
                        help="serve --max-datagram (65000: the former loopback figure)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate engine and blast this many times (shared machines)")
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory(prefix="jsqa-bench-") as tmp:
        src = sparse_file(Path(tmp) / "src" / "blob.bin", args.size)
        with EmbeddedPair(extra_args=["--max-datagram", str(args.max_datagram)]) as pair:
            for r in range(args.rounds):
                blast = raw_udp_blast(args.size, data_datagram(args.max_datagram))
                t = timed_transfer(pair, src.parent, f"g{r}", transferFlags=0, minCipher=0)
                ratios.append(t["goodput"] / blast["recvRate"])
                print(f"round {r}: engine NONE {mb(t['goodput'])} ({t['engineSeconds']:.2f} s,"
                      f" retransmitted {t['blocksRetransmitted']} of {t['totalBlocks']} "
                      f"blocks, {t['packetsSent']} packets)   raw blast sent "
                      f"{mb(blast['sentRate'])} received {mb(blast['recvRate'])} "
                      f"(loss {blast['loss']:.1%})   ratio {ratios[-1]:.2f}x")
            if args.all_ciphers:
                for c in (1, 2, 3):
                    t = timed_transfer(pair, src.parent, f"c{c}", transferFlags=0,
                                       minCipher=c)
                    print(f"engine cipher {c}: {mb(t['goodput'])} ({t['engineSeconds']:.2f} s,"
                          f" retransmitted {t['blocksRetransmitted']} blocks)")
    print(f"RATIO engine(NONE, no IO) / raw blast received (median of {args.rounds}) = "
          f"{median(ratios):.2f}x (target >= 0.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
