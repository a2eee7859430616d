"""Locust adapter: :class:`JetStreamUser`, the one timing helper, and the run's listeners.

The only package of ``jetstream_qa`` that imports Locust (and so gevent's monkey-patching).
Everything with logic lives in :mod:`jetstream_qa.loadstats` (statistics, the measured
window, thresholds) and :mod:`jetstream_qa.loadrun` (settings, target, file sets, report);
this package wires them to Locust's events:

- :mod:`.user`: the user, its timing helper (one ``request`` event per operation) and the
  exactly-once settlement of transfers;
- :mod:`.listeners`: options, target, file-set preparation, the end of the run and its exit
  status;
- :mod:`.distributed`: the master/worker protocol (target, statistics, final reports);
- :mod:`.webui`: the goodput tab of Locust's web UI.

Locust stops users by killing their greenlets, and the kill can land mid-task: between the
server creating a transfer and the client reading its id. So a user stopped mid-transfer
settles what is final in ``on_stop``, and at test stop every transfer of this process that
the sender lists under the run's prefix and no event settled yet is settled from the
sender's own record: complete -> delivered, failed -> failure, still running after
``--stop-timeout`` more seconds (at once without it) -> cancelled
(``transfers.cancelledAtStop``). With ``--stop-timeout S`` running transfers finish, so the
destination then holds exactly the delivered bytes.

Call :func:`install` once from the locustfile.
"""

from jetstream_qa.locust_user.listeners import (
    BROKEN_TARGET_EXIT_CODE,
    THRESHOLD_EXIT_CODE,
    JetStreamShape,
    install,
)
from jetstream_qa.locust_user.user import JetStreamUser, Measured, api_rate_pacing, check_gevent

__all__ = ["BROKEN_TARGET_EXIT_CODE", "THRESHOLD_EXIT_CODE", "JetStreamShape", "JetStreamUser",
           "Measured", "api_rate_pacing", "check_gevent", "install"]
