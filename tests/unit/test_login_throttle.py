"""The reference server's failed-login throttle (refserver/session_logins.py), in memory."""

from __future__ import annotations

import asyncio
import itertools

from jetstream_qa.refserver.session_logins import (
    BASE_DELAY_S,
    MAX_DELAY_S,
    LoginThrottle,
    delay_after,
)


def test_delay_grows_from_the_second_failure_and_is_capped() -> None:
    delays = [delay_after(n) for n in range(0, 12)]
    assert delays[:2] == [0.0, 0.0]  # a single typo costs nothing
    assert delays[2] == BASE_DELAY_S
    assert all(b == min(MAX_DELAY_S, 2 * a) for a, b in itertools.pairwise(delays[2:]))
    assert max(delays) == MAX_DELAY_S == delay_after(10_000)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _fail(throttle: LoginThrottle, peer: str, user: str) -> int:
    async with throttle.attempt(peer, user) as pair:
        return throttle.failed(pair)


def test_pairs_are_counted_apart_and_reset_by_success() -> None:
    async def scenario() -> None:
        throttle = LoginThrottle(clock=_Clock())
        assert [await _fail(throttle, "10.0.0.1", "qa") for _ in range(2)] == [1, 2]
        assert throttle.failures("10.0.0.1", "other") == 0
        assert throttle.failures("10.0.0.2", "qa") == 0
        async with throttle.attempt("10.0.0.1", "other") as pair:
            throttle.failed(pair)
        assert throttle.failures("10.0.0.1", "qa") == 2
        async with throttle.attempt("10.0.0.1", "qa") as pair:
            throttle.succeeded(pair)
        assert throttle.failures("10.0.0.1", "qa") == 0

    asyncio.run(scenario())


def test_pipelined_attempts_of_one_pair_queue_behind_the_delay() -> None:
    """An attempt made during the pair's delay does not get in at once: it waits (in the
    pair's lock, without blocking the loop) until the delay is over, then counts."""
    async def scenario() -> None:
        clock = _Clock()
        throttle = LoginThrottle(clock=clock)
        for _ in range(3):
            await _fail(throttle, "p", "u")  # not_before = now + delay_after(3)
        entered = asyncio.Event()

        async def attempt() -> None:
            async with throttle.attempt("p", "u") as pair:
                entered.set()
                throttle.failed(pair)

        task = asyncio.ensure_future(attempt())
        await asyncio.sleep(0)
        assert not entered.is_set()  # asleep for delay_after(3) = 0.05 s
        await asyncio.wait_for(task, 5)
        assert entered.is_set() and throttle.failures("p", "u") == 4

    asyncio.run(scenario())
