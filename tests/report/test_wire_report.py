"""review.html shows a load run's wire evidence (``--js-capture``) when load.json has it."""

from __future__ import annotations

from typing import Any

from jetstream_qa.report.document import ReviewInputs, build_document
from jetstream_qa.report.inputs import parse_load
from jetstream_qa.report.render import render_html
from jetstream_qa.report.samples import load_document

_WIRE = {"source": "iface:lo", "side": "local", "filter": "inbound and udp port 9",
         "truncated": "", "deliveredBytes": 220996609, "wireToDeliveredRatio": 1.0246,
         "total": {"packets": 9244, "bytes": 226428489, "toReceiverPackets": 4372,
                   "toReceiverBytes": 225980045, "fragments": 0, "largestPacket": 60196},
         "window": {"packets": 6018, "bytes": 150317612, "wireBytesPerSecond": 30063522.4,
                    "reportedBytesPerSecond": 29517633.9, "wireToGoodputRatio": 1.0185},
         "series": [{"t": 0.6, "packets": 952, "bytes": 23230027}]}


def _html(*wires: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    loads = []
    for seed, wire in enumerate(wires, start=1):
        doc = load_document(seed=seed)
        if wire is not None:
            doc["wire"] = wire
        loads.append(parse_load(doc))
    doc = build_document(ReviewInputs(conformance=None, loads=loads, generated_at="t",
                                      toolkit_version="0.1.0"))
    return doc, render_html(doc)


def test_wire_evidence_and_its_problem_are_shown() -> None:
    problem = {"source": "file:/nonexistent", "side": "master", "filter": None,
               "problem": "capture source file:/nonexistent failed: does not exist"}
    doc, html = _html(_WIRE, problem)
    assert 'id="wire-table"' in html
    assert "1.025" in html and "1.018" in html and "<code>iface:lo</code> (local)" in html
    assert "failed: does not exist" in html
    runs = doc["load"]["runs"]
    assert runs[0]["wire"]["total"] == _WIRE["total"] and "series" not in runs[0]["wire"]
    assert runs[1]["wire"]["problem"] == problem["problem"]


def test_no_wire_table_without_capture() -> None:
    doc, html = _html(None)
    assert 'id="wire-table"' not in html and doc["load"]["runs"][0]["wire"] is None
