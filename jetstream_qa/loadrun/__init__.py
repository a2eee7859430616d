"""Load-run plumbing without Locust: settings, target (embedded pair or remote servers), file
sets, shapes, and the per-process session that writes reports/load.json.

:mod:`jetstream_qa.locust_user` is the thin Locust adapter over this package and
:mod:`jetstream_qa.loadstats`; nothing here imports Locust, gevent or pytest.
"""

from jetstream_qa.loadrun.filesets import FileSet, FileSetRecipe, load_recipe
from jetstream_qa.loadrun.ledger import Intent, Settlement, TransferLedger
from jetstream_qa.loadrun.session import LoadSession, sum_counters
from jetstream_qa.loadrun.settings import (
    PASSWORD_ENV,
    Address,
    LoadSettings,
    add_arguments,
    parse_address,
    settings_from_options,
)
from jetstream_qa.loadrun.settle import settle_transfers
from jetstream_qa.loadrun.shapes import shape_tick
from jetstream_qa.loadrun.target import Target, remote_target, start_embedded

__all__ = [
    "PASSWORD_ENV",
    "Address",
    "FileSet",
    "FileSetRecipe",
    "Intent",
    "LoadSession",
    "LoadSettings",
    "Settlement",
    "Target",
    "TransferLedger",
    "add_arguments",
    "load_recipe",
    "parse_address",
    "remote_target",
    "settings_from_options",
    "settle_transfers",
    "shape_tick",
    "start_embedded",
    "sum_counters",
]
