"""The measured window in the review: stated in review.json and the HTML, shaded on the
goodput chart; steady-state goodput gates with its batch means as samples; old load.json
files without a window still parse; load problems fail the review."""

from __future__ import annotations

import re

from jetstream_qa.report.baseline import collect_samples, compare_metrics, regressions
from jetstream_qa.report.document import ReviewInputs, build_document
from jetstream_qa.report.inputs import parse_load
from jetstream_qa.report.render import render_html
from jetstream_qa.report.samples import load_document


def _doc(*loads: dict) -> dict:
    return build_document(ReviewInputs(conformance=None, loads=[parse_load(d) for d in loads],
                                       generated_at="t", toolkit_version="0.1.0"))


def test_window_is_stated_in_json_and_html_and_shaded_on_the_chart() -> None:
    doc = _doc(load_document(seed=1))
    run = doc["load"]["runs"][0]
    assert run["goodput"]["window"]["startS"] == 3.0
    assert run["goodput"]["steady"]["method"] == "batch-means"
    html = render_html(doc)
    band = re.search(r'<rect class="band" x="([\d.]+)"[^>]*width="([\d.]+)"[^>]*'
                     r'data-label="measured window \(run 1\): 3-30 s"', html)
    assert band is not None and float(band.group(2)) > 0
    assert "3\u201330 s (27 s; first transfer at 1.0 s + 2 s warm-up" in html
    steady = run["goodput"]["steady"]
    assert "MB/s" in html and f"{steady['batchSize']} s)" in html


def test_steady_goodput_gates_with_every_batch_mean_as_a_sample() -> None:
    base = [parse_load(load_document(seed=i)) for i in range(1)]
    slow = [parse_load(load_document(seed=20, goodput_bps=50e6))]
    samples = collect_samples(base)
    assert samples["goodput.steady"] == base[0].goodput_steady["batchMeans"]
    assert len(samples["goodput.steady"]) >= 4 and len(samples["goodput.mean"]) == 1
    result = compare_metrics(samples, collect_samples(slow))
    assert result["goodput.steady"].method == "band+mann-whitney"
    assert regressions(result) == ["goodput.steady"]
    same = compare_metrics(samples, collect_samples([parse_load(load_document(seed=5))]))
    assert regressions(same) == []


def test_a_load_json_without_window_still_parses_and_falls_back_to_the_mean() -> None:
    old = load_document(seed=3)
    for key in ("window", "steady", "rampUp", "rampDown"):
        del old["goodput"][key]
    run = parse_load(old)
    assert run.steady_bps is None and run.gating_bps == run.goodput_mean_bps
    assert "goodput.steady" not in collect_samples([run])
    assert "<td class=\"window\">none</td>" in render_html(_doc(old))


def test_load_problems_fail_the_review() -> None:
    broken = load_document(seed=4)
    broken["problems"] = ["the target stopped answering: at the end of the run "
                          "getServerInfo failed with RequestTimeout: no answer"]
    doc = _doc(broken)
    assert doc["status"] == "FAIL" and doc["exitCode"] == 1
    assert any(i["kind"] == "load-problem" for i in doc["attention"])
    assert "the target stopped answering" in render_html(doc)


def test_a_window_not_at_steady_state_says_so_in_the_html() -> None:
    doc = load_document(seed=6)
    steady_html = render_html(_doc(doc))
    doc["goodput"]["steady"]["steadyState"] = ("not reached: the window's first half averages "
                                               "9.5e+07 B/s and its second 4.7e+07 B/s")
    html = render_html(_doc(doc))
    assert "steady state not reached: the window&#39;s first half" in html
    assert "steady state not reached" not in steady_html
