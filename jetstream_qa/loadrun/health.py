"""Whether a load run measured a working target at all (no Locust here).

A run against a target that never completed a transfer, or that stopped answering while the
run went on, must not end green: its numbers describe a broken server, not a slow one
(DESIGN.md: "a server that stops answering, answers garbage or dies mid-run is a FAIL").
:func:`run_problems` names each such finding; the adapter prints them and exits non-zero.
"""

from __future__ import annotations

from jetstream_qa.loadstats.recorder import LoadRecorder

__all__ = ["run_problems"]


def _first_errors(recorder: LoadRecorder, limit: int = 2) -> str:
    errors = sorted(recorder.errors.items(), key=lambda kv: -kv[1])[:limit]
    if not errors:
        return "no request finished at all"
    return "; ".join(f"{key}: {error} (x{count})" for (key, error), count in errors)


def run_problems(recorder: LoadRecorder, *, transfer_users: bool,
                 probe_error: str | None) -> list[str]:
    """What makes this run FAIL regardless of thresholds, one sentence each.

    Args:
        recorder: the run's merged statistics.
        transfer_users: keyword-only; True when some user class sends files (then a run
            without one completed transfer failed), else a run without one successful
            request failed.
        probe_error: keyword-only; what the end-of-run probe of the target saw (None: it
            answered).

    Returns:
        Problems in the order found; empty for a healthy run.
    """
    problems = []
    if transfer_users:
        if recorder.delivered_transfers == 0:
            problems.append(f"the run completed no transfer ({recorder.transfers} attempted, "
                            f"{recorder.transfer_failures} failed; first errors: "
                            f"{_first_errors(recorder)})")
    elif recorder.request_count - recorder.failure_count == 0:
        problems.append(f"the run completed no request ({recorder.request_count} attempted; "
                        f"first errors: {_first_errors(recorder)})")
    if probe_error is not None:
        problems.append(f"the target stopped answering: at the end of the run "
                        f"getServerInfo failed with {probe_error}")
    return problems
