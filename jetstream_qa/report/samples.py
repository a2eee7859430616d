"""Deterministic, realistic input documents for the report's tests and benchmark.

:func:`conformance_document` and :func:`load_document` produce ``conformance.json`` /
``load.json`` documents in the shapes the plugin and the Locust adapter write (schemas
``jetstream-qa/conformance/1`` and ``jetstream-qa/load/1``), from a seed, so that a 5,000-case
input is generated on demand instead of being committed. They are data generators only: the
report never reads them at run time.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

from jetstream_qa.loadstats.window import steady_goodput

__all__ = ["conformance_document", "load_document"]

_MATRIX_KEYS = ("flags", "overwrite", "cipher", "symlink", "preState")
_PRE_STATES = ("absent", "empty", "same-size", "larger", "newer", "older", "partfile")
_OTHER_AREAS = {
    "handshake": ("api-version", "hello-timeout", "agent-length", "server-id"),
    "timeouts": ("connect", "request", "idle"),
    "auth": ("password", "token-rights", "superuser", "ownership"),
    "manifests": ("mapping", "empty-dir", "sandbox-escape", "pending"),
    "packet": ("plaintext-never", "forged-rejected", "garbage-survived"),
    "robustness": ("oversize-frame", "bad-utf8", "duplicate-key", "deep-nesting"),
}


def _matrix_points() -> Iterator[tuple[int, int, int, int, str]]:
    for symlink in (1, 2):
        for flags in range(16):
            for overwrite in (2, 3, 4, 5):
                for cipher in (0, 1, 2, 3):
                    for pre in _PRE_STATES:
                        yield flags, overwrite, cipher, symlink, pre


def _calls(rng: random.Random, flags: int, overwrite: int, cipher: int) -> list[str]:
    mid = rng.randint(1, 999)
    return [
        "api.server.getServerInfo() -> {'apiVersion': 40}",
        f"api.send.createManifest(mappings=[...{rng.randint(1, 9)} items]) -> {{'id': {mid}}}",
        f"api.send.createTransfer(manifestId={mid}, flags={flags}, overwrite={overwrite}, "
        f"minCipher={cipher}) -> {{'id': {mid + 1}}}",
        f"api.send.getTransfer({mid + 1}) -> {{'status': 'complete'}}",
    ]


def _case(
    rng: random.Random, case_id: str, area: str, matrix: Any, verdict: str
) -> dict[str, Any]:
    calls = _calls(rng, *(matrix[:3] if matrix else (3, 4, 0)))
    failing = verdict not in ("PASS", "NOT_APPLICABLE")
    return {
        "id": case_id,
        "area": area,
        "verdict": verdict,
        "requirement": f"{case_id.replace('/', ' ')}: the destination matches the oracle",
        "source": "jetstream-api/2.9.2/api/python/jetstream.constants.html",
        "durationS": round(rng.uniform(0.002, 0.4), 6),
        "expected": "file identical to source, mtime preserved" if failing else "",
        "actual": "destination mtime differs by 3600 s" if failing else "",
        "calls": calls if failing else calls[:2],
        "matrix": None if matrix is None else dict(zip(_MATRIX_KEYS, matrix, strict=True)),
        "expectedVerdict": None,
        "unexpected": False,
    }


def conformance_document(
    n_cases: int = 400,
    *,
    seed: int = 1,
    fail: Iterable[str] = (),
    info_rate: float = 0.02,
    environment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``conformance.json`` document with ``n_cases`` cases.

    Matrix cases (``flags/<f>/<overwrite>/<cipher>/<symlink>/<pre>``) come first, then the
    other areas cycle. Case ids in ``fail`` get verdict FAIL; a few random cases are INFO /
    NOT_APPLICABLE; everything else passes.
    """
    rng = random.Random(seed)
    fail_ids = set(fail)
    cases: list[dict[str, Any]] = []
    points = _matrix_points()
    others = [(a, n) for a, names in _OTHER_AREAS.items() for n in names]
    i = 0
    while len(cases) < n_cases:
        point = next(points, None) if i % 5 != 4 else None
        if point is not None:
            f, o, c, s, pre = point
            case_id, area, matrix = f"flags/f{f}-o{o}-c{c}-s{s}/{pre}", "flags", point
        else:
            area, name = others[i % len(others)]
            case_id, matrix = f"{area}/{name}/{i}", None
        roll = rng.random()
        verdict = "PASS"
        if roll < info_rate:
            verdict = "INFO"
        elif roll < info_rate * 1.5:
            verdict = "NOT_APPLICABLE"
        if case_id in fail_ids:
            verdict = "FAIL"
        cases.append(_case(rng, case_id, area, matrix, verdict))
        i += 1
    verdicts = ("PASS", "FAIL", "NON_STRICT", "INFO", "INCONCLUSIVE", "NOT_APPLICABLE")
    counts = dict.fromkeys(verdicts, 0)
    for case in cases:
        counts[case["verdict"]] += 1
    return {
        "schema": "jetstream-qa/conformance/1",
        "generatedAt": "2026-11-27T08:00:00Z",
        "environment": environment
        or {
            "serverVersion": "2.9.2-ref",
            "apiVersion": 40,
            "serverId": "ref-sender",
            "revision": "ref",
            "minCipher": 0,
            "host": "127.0.0.1:8886",
            "clientKind": "bundled",
            "profile": "quick",
            "target": "embedded",
            "toolkitVersion": "0.1.0",
            "python": "3.11",
        },
        "counts": counts,
        "cases": cases,
        "exitStatus": 1 if counts["FAIL"] else 0,
    }


def _window_parts(values: list[float], duration_s: int) -> dict[str, Any]:
    """``window``/``steady``/``rampUp``/``rampDown`` as the adapter writes them: the window
    skips the 3 s ramp of :func:`load_document`'s series (samples at t = 1..duration)."""
    start = min(3, duration_s)
    steady = steady_goodput(values[start:])
    window = {"startS": float(start), "endS": float(duration_s),
              "durationS": float(duration_s - start), "warmupS": 2.0, "firstTransferS": 1.0,
              "stopS": float(duration_s), "rule": "sample", "note": ""}
    ramp = sum(values[:start])
    return {"window": window, "steady": steady.to_dict() if steady else None,
            "rampUp": {"startS": 0.0, "endS": float(start), "bytes": ramp,
                       "meanBytesPerSecond": ramp / start if start else None},
            "rampDown": {"startS": float(duration_s), "endS": float(duration_s), "bytes": 0.0,
                         "meanBytesPerSecond": None}}


def load_document(
    *,
    seed: int = 1,
    goodput_bps: float = 80e6,
    noise: float = 0.05,
    duration_s: int = 30,
    users: int = 4,
    failures: int = 0,
    checks: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A ``load.json`` document of a ``duration_s`` run averaging ``goodput_bps``.

    ``noise`` is the relative standard deviation of each one-second sample and of the run
    mean; latency scales inversely with goodput.
    """
    rng = random.Random(seed)
    mean = goodput_bps * (1 + rng.gauss(0, noise / 3))
    series: list[dict[str, Any]] = []
    values: list[float] = []
    for t in range(1, duration_s + 1):
        ramp = min(1.0, t / 3)
        v = max(0.0, mean * ramp * (1 + rng.gauss(0, noise)))
        values.append(v)
        series.append({"t": float(t), "bytesPerSecond": v, "byScenario": {"mixed": v}})
    total = sum(values)
    scale = 80e6 / max(mean, 1.0)
    lat = {}
    for name, base, count in (
        ("transfer mixed", 400.0, 120),
        ("api createTransfer", 3.0, 130),
        ("api getTransfer", 1.2, 900),
        ("api createManifest", 2.5, 125),
    ):
        b = base * scale
        lat[name] = {
            "count": count,
            "failures": failures if name.startswith("transfer") else 0,
            "p50": b, "p90": b * 1.6, "p95": b * 1.9, "p99": b * 2.8, "max": b * 4.0,
            "series": [
                {"t": float(t), "p50": b * (1 + rng.gauss(0, noise)),
                 "p95": b * 1.9 * (1 + rng.gauss(0, noise))}
                for t in range(1, duration_s + 1)
            ],
        }
    tput = mean / users
    blocks = total / 256
    return {
        "schema": "jetstream-qa/load/1",
        "environment": {"serverVersion": "2.9.2-ref", "apiVersion": 40, "host": "127.0.0.1"},
        "settings": {"users": users, "spawnRate": users, "runTimeS": duration_s,
                     "scenario": "mixed", "shape": None, "impairment": None},
        "startedAt": "2026-11-27T08:00:00Z",
        "endedAt": "2026-11-27T08:00:30Z",
        "goodput": {"totalBytes": total, "elapsedS": float(duration_s),
                    "meanBytesPerSecond": total / duration_s, "series": series,
                    **_window_parts(values, duration_s)},
        "transfers": {"count": 120, "failures": failures,
                      "throughputBytesPerSecond": {
                          "min": tput * 0.3, "p50": tput, "p90": tput * 1.3, "p95": tput * 1.4,
                          "p99": tput * 1.6, "max": tput * 1.8}},
        "latency": lat,
        "errors": [{"name": "transfer mixed", "error": "RequestTimeout('getTransfer')",
                    "occurrences": failures}] if failures else [],
        "serverCounters": {"bytesSent": total, "blocksSent": blocks,
                           "blocksRetransmitted": blocks * 0.001, "packetsSent": blocks / 4},
        "checks": list(checks),
    }
