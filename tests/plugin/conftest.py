"""Plugin tests run the plugin through ``pytester`` (in-process inner pytest runs; a
subprocess where import state must not leak, e.g. the fake vendor package).

``pytester`` is pytest's own plugin; it is loaded here because ``pytest_plugins`` is only
allowed in the rootdir conftest.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
