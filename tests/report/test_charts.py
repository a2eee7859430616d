"""Chart geometry (pure): scaling, ticks, thinning of long series."""

from __future__ import annotations

from jetstream_qa.report.charts import fmt_bytes_rate, fmt_ms, line_chart, thin


def test_points_map_into_the_plot_area() -> None:
    chart = line_chart("c", "t", [("a", [(0.0, 0.0), (10.0, 100.0)], False)], width=500,
                       height=200)
    assert not chart.empty
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in chart.lines[0].points.split())
    assert x0 == chart.left and x1 == chart.right
    assert y0 == chart.bottom and chart.top <= y1 < y0
    assert chart.y_ticks and chart.x_ticks


def test_empty_series_make_an_empty_chart() -> None:
    assert line_chart("c", "t", [("a", [], False)]).empty


def test_categories_label_the_x_axis() -> None:
    chart = line_chart("c", "t", [("a", [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)], False)],
                       x_categories=["p50", "p90", "p99"])
    assert [t.label for t in chart.x_ticks] == ["p50", "p90", "p99"]


def test_long_series_are_thinned_but_keep_spikes() -> None:
    series = [(float(t), 100.0) for t in range(3600)]
    series[1234] = (1234.0, 900.0)
    thinned = thin(series, limit=300)
    assert len(thinned) <= 301
    assert (1234.0, 900.0) in thinned and thinned[-1] == series[-1]


def test_units() -> None:
    assert fmt_bytes_rate(12_300_000) == "12.3 MB/s"
    assert fmt_bytes_rate(512) == "512 B/s"
    assert fmt_ms(1500) == "1.5 s" and fmt_ms(2.5) == "2.5 ms"
