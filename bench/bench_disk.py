"""Benchmark (c): disk-to-disk READ_WRITE 1 GiB vs ``cp`` + fsync of the same file.

    python bench/bench_disk.py [--size BYTES] [--cipher N]

The source is written once (random bytes) and read by both (page cache as it falls). The
engine's receiver fsyncs before it reports complete, so both sides end with the data durable.
Target ratio >= 0.6x.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _transfer import GIB, mb, median, timed_transfer

from jetstream_qa.refserver.embedded import EmbeddedPair


def write_source(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(8 << 20)
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, len(chunk))
            fh.write(chunk[:n])
            left -= n
        fh.flush()
        os.fsync(fh.fileno())


def cp_rate(src: Path, dst: Path, size: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return size / (time.perf_counter() - t0)


def python_copy_rate(src: Path, dst: Path, size: int, chunk: int = 253 * 256) -> float:
    """The floor for any Python data path: preadv + pwrite in datagram-sized chunks, fsync."""
    buf = bytearray(chunk)
    view = memoryview(buf)
    t0 = time.perf_counter()
    fin = os.open(src, os.O_RDONLY)
    fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        off = 0
        while off < size:
            n = os.preadv(fin, [view], off)
            os.pwrite(fout, view[:n], off)
            off += n
        os.fsync(fout)
    finally:
        os.close(fin)
        os.close(fout)
    return size / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=GIB)
    parser.add_argument("--cipher", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate engine and cp this many times (shared machines)")
    args = parser.parse_args()
    ratios, py_ratios = [], []
    with tempfile.TemporaryDirectory(prefix="jsqa-bench-") as tmp:
        src = Path(tmp) / "src" / "blob.bin"
        write_source(src, args.size)
        with EmbeddedPair() as pair:
            for r in range(args.rounds):
                base = cp_rate(src, Path(tmp) / "copy.bin", args.size)
                os.unlink(Path(tmp) / "copy.bin")
                t = timed_transfer(pair, src.parent, f"disk{r}", transferFlags=3,
                                   minCipher=args.cipher)
                os.unlink(pair.receiver.storage_root / f"disk{r}" / "blob.bin")
                py = python_copy_rate(src, Path(tmp) / "pycopy.bin", args.size)
                os.unlink(Path(tmp) / "pycopy.bin")
                ratios.append(t["goodput"] / base)
                py_ratios.append(t["goodput"] / py)
                print(f"round {r}: engine READ_WRITE cipher {args.cipher}: "
                      f"{mb(t['goodput'])} ({t['engineSeconds']:.2f} s, retransmitted "
                      f"{t['blocksRetransmitted']} blocks)   cp + fsync: {mb(base)}   "
                      f"python preadv/pwrite + fsync: {mb(py)}   ratio {ratios[-1]:.2f}x")
    print(f"RATIO engine / cp+fsync (median of {args.rounds}) = {median(ratios):.2f}x "
          f"(target >= 0.6x)")
    print(f"context: engine / single-process Python copy loop (median) = "
          f"{median(py_ratios):.2f}x (cp uses in-kernel copy_file_range; no Python data "
          f"path can do that)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
