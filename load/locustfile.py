"""JetStream load scenarios for Locust (``locust -f load/locustfile.py``).

Users (pick some by class name on the command line, default: all, by weight):

- ``SmallFilesUser``   many small files (fixtures/load/small-files.json, 4 KiB-1 MiB),
                       ``--js-batch`` files per transfer, back to back
- ``LargeFilesUser``   few large files (fixtures/load/large-files.json, 256 MiB-1 GiB;
                       ``--js-scale 0.01`` shrinks them for CI), one per transfer
- ``MixedUser``        small batches and large files, 4:1
- ``MemoryUser``       memory-to-memory: TRANSFER_FLAG_NONE (nothing read, nothing written)
- ``ApiStormUser``     getServerInfo / send.getTransfers at ``--js-api-rate`` calls/s per
                       user (open model: constant_throughput pacing)

Each user names the file-set ``recipes`` it sends from: they are prepared at test start,
before the first transfer, so generating them is never inside the measured window.

No ``--host``: the embedded reference pair starts (and stops with Locust). Shapes:
``--js-shape step|spike|soak``. Thresholds: ``--js-check 'goodput >= 200MiB/s'``. The
``--js-*`` options are listed in ``jetstream_qa/loadrun/settings.py`` (``add_arguments``) and
in the README (Locust's ``--help`` prints before it loads a locustfile).
"""

from __future__ import annotations

from locust import between, task

from jetstream_qa.constants import TRANSFER_FLAG_NONE, TRANSFER_FLAG_READ_WRITE
from jetstream_qa.locust_user import JetStreamUser, api_rate_pacing, install

install()


def _send_small_batch(user: JetStreamUser) -> None:
    """One transfer of ``--js-batch`` files drawn from the small-files set."""
    files = user.fileset("small-files")
    user.transfer(user.random.sample(files, k=min(user.settings.batch, len(files))))


def _send_large_file(user: JetStreamUser, *, flags: int = TRANSFER_FLAG_READ_WRITE) -> None:
    """One transfer of one file drawn from the large-files set, with transfer ``flags``."""
    user.transfer([user.random.choice(user.fileset("large-files"))], flags=flags)


class SmallFilesUser(JetStreamUser):
    """Batches of small files: per-file and API overhead dominate."""

    scenario = "small-files"
    recipes = ("small-files",)
    weight = 3
    wait_time = between(0.0, 0.1)

    @task
    def send_small_batch(self) -> None:
        _send_small_batch(self)


class LargeFilesUser(JetStreamUser):
    """One large file per transfer: throughput dominates."""

    scenario = "large-files"
    recipes = ("large-files",)
    weight = 1
    wait_time = between(0.0, 0.1)

    @task
    def send_large_file(self) -> None:
        _send_large_file(self)


class MixedUser(JetStreamUser):
    """Small batches and large files from the same user, 4:1."""

    scenario = "mixed"
    recipes = ("small-files", "large-files")
    weight = 1
    wait_time = between(0.0, 0.1)

    @task(4)
    def send_small_batch(self) -> None:
        _send_small_batch(self)

    @task(1)
    def send_large_file(self) -> None:
        _send_large_file(self)


class MemoryUser(JetStreamUser):
    """Memory-to-memory: the network path alone (TRANSFER_FLAG_NONE)."""

    scenario = "memory"
    recipes = ("large-files",)
    weight = 1
    wait_time = between(0.0, 0.1)

    @task
    def send_from_memory(self) -> None:
        _send_large_file(self, flags=TRANSFER_FLAG_NONE)


class ApiStormUser(JetStreamUser):
    """Control-plane load at a paced, open-model rate; each call goes through the binding
    (``--js-client vendor --js-binding FILE`` works too), its event named as written here."""

    weight = 2
    wait_time = api_rate_pacing()

    @task(3)
    def server_info(self) -> None:
        self.call("getServerInfo")

    @task(1)
    def list_transfers(self) -> None:
        self.call("send.getTransfers")
