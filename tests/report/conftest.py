"""Fixtures of the review-report tests (helpers are in ``report_helpers.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from report_helpers import load_fixture


@pytest.fixture
def conformance_doc() -> dict[str, Any]:
    """160 cases, one FAIL (``flags/f0-o4-c2-s1/newer``)."""
    return load_fixture("conformance_small.json")


@pytest.fixture
def load_doc() -> dict[str, Any]:
    """A 20 s load run averaging about 80 MB/s."""
    return load_fixture("load_small.json")
