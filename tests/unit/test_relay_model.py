"""relay/model/*: the sans-IO impairment core is reproducible and hits its rates."""

from __future__ import annotations

import math

import pytest

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.relay import Impairment, ImpairmentModel

N = 20_000


def within(observed: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    """True when ``observed`` is within ``sigmas`` binomial standard deviations of n*p."""
    sd = math.sqrt(n * p * (1 - p))
    return abs(observed - n * p) <= sigmas * sd + 1


def drive(model: ImpairmentModel[int], n: int) -> list[int]:
    out: list[int] = []
    for seq in range(n):
        out.extend(p for _, p in model.on_datagram(seq, 0.0))
    out.extend(p for _, p in model.on_timer(math.inf))
    return out


def test_relay_model_rates_within_bounds() -> None:
    """relay/model/rates: loss, duplication and reordering match their probabilities."""
    imp = Impairment(loss=0.1, duplicate=0.05, reorder=0.05)
    model: ImpairmentModel[int] = ImpairmentModel(imp, seed=7, direction="clientToServer")
    out = drive(model, N)
    s = model.stats
    assert s.received == N
    assert within(s.dropped, N, 0.1)
    kept = N - s.dropped
    assert within(s.duplicated, kept, 0.05)
    # a hold needs an empty reorder buffer: the effective rate is r / (1 + r) of kept datagrams
    assert within(s.reordered, kept, 0.05 / 1.05)
    assert s.forwarded == len(out) == kept + s.duplicated
    assert sorted(set(out)) == sorted(set(range(N)) - _dropped(imp, 7, N))


def _dropped(imp: Impairment, seed: int, n: int) -> set[int]:
    model: ImpairmentModel[int] = ImpairmentModel(imp, seed=seed, direction="clientToServer")
    return {k for k in range(n) if model.decide().drop}


def test_relay_model_is_reproducible_per_seed_and_direction() -> None:
    """relay/model/reproducible: same seed -> same sequence; seed and direction change it."""
    imp = Impairment(loss=0.2, duplicate=0.1, reorder=0.1, delay_ms=5, jitter_ms=5)

    def run(seed: int, direction: str) -> list[tuple[float, int]]:
        model: ImpairmentModel[int] = ImpairmentModel(imp, seed=seed, direction=direction)
        out: list[tuple[float, int]] = []
        for seq in range(2000):
            out.extend(model.on_datagram(seq, seq * 0.001))
        return out

    assert run(1, "clientToServer") == run(1, "clientToServer")
    assert run(1, "clientToServer") != run(2, "clientToServer")
    assert run(1, "clientToServer") != run(1, "serverToClient")


def test_relay_model_reorder_releases_after_next_or_on_timer() -> None:
    """relay/model/reorder: a held datagram follows the next one, or leaves when hold expires."""
    model: ImpairmentModel[str] = ImpairmentModel(Impairment(reorder=1.0, hold_ms=10),
                                                  seed=0, direction="x")
    assert model.on_datagram("a", 0.0) == []
    assert model.next_deadline() == pytest.approx(0.010)
    assert [p for _, p in model.on_datagram("b", 0.001)] == ["b", "a"]
    assert model.on_datagram("c", 0.002) == []
    assert model.on_timer(0.005) == []
    assert [p for _, p in model.on_timer(0.012)] == ["c"]
    assert model.stats.reordered == 2 and model.stats.forwarded == 3


def test_relay_model_delay_and_jitter_bounds() -> None:
    """relay/model/delay: due = now + delay +/- jitter, never in the past."""
    model: ImpairmentModel[int] = ImpairmentModel(Impairment(delay_ms=20, jitter_ms=5),
                                                  seed=3, direction="x")
    dues = [model.on_datagram(k, 100.0)[0][0] - 100.0 for k in range(2000)]
    assert min(dues) >= 0.015 - 1e-9 and max(dues) <= 0.025 + 1e-9
    assert max(dues) - min(dues) > 0.008  # jitter actually spreads
    flat: ImpairmentModel[int] = ImpairmentModel(Impairment(jitter_ms=5), seed=3, direction="x")
    assert all(flat.on_datagram(k, 1.0)[0][0] >= 1.0 for k in range(500))


def test_relay_model_passthrough_is_inactive() -> None:
    """relay/model/passthrough: no impairment means every datagram once, in order, now."""
    imp = Impairment()
    assert not imp.active
    model: ImpairmentModel[int] = ImpairmentModel(imp, seed=0, direction="x")
    assert drive(model, 100) == list(range(100))


@pytest.mark.parametrize("kwargs", [
    {"loss": 1.5}, {"duplicate": -0.1}, {"reorder": float("nan")}, {"delay_ms": -1},
    {"jitter_ms": float("inf")},
])
def test_relay_model_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    """relay/model/validation: probabilities in [0, 1], finite non-negative times."""
    with pytest.raises(ConfigurationError):
        Impairment(**kwargs)
