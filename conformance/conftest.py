"""Suite-wide rules of the conformance suites.

The fixtures (``js_sender``, ``js_receiver``, ``js_scratch``, ``js_fileset`` ...), markers
(``js_case``, ``js_matrix``, ``js_settings``), options (``--js-*``) and verdicts come from the
``jetstream_qa`` pytest plugin, registered through its ``pytest11`` entry point; see
``docs/writing-cases.md``. This file only enforces the house rules for cases: every test in
``conformance/`` is a case (``@pytest.mark.js_case(id, level=..., source=...)``) whose
docstring states the requirement and whose ``source`` cites the vendor doc page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_js_concurrent_default(config: pytest.Config) -> bool:
    """These suites run concurrently by default against the embedded pair (each pytest-xdist
    worker starts its own pair); ``--js-serial`` runs them one after the other."""
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a case without id, source or requirement (collection stops with the names)."""
    problems = []
    for item in items:
        if _HERE not in Path(str(item.path)).resolve().parents:
            continue
        marker = item.get_closest_marker("js_case")
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        if marker is None:
            problems.append(f"{item.nodeid}: no @pytest.mark.js_case(...)")
        elif not marker.kwargs.get("source"):
            problems.append(f"{item.nodeid}: js_case without source= (the vendor doc page)")
        elif not (doc or "").strip() and not marker.kwargs.get("requirement"):
            problems.append(f"{item.nodeid}: no docstring stating the requirement")
    if problems:
        raise pytest.UsageError("conformance cases break the house rules:\n  "
                                + "\n  ".join(problems))

