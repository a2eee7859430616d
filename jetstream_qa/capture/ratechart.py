"""The rate-over-time plot of a pacing case, as a self-contained inline SVG fragment.

Geometry comes from :func:`jetstream_qa.report.charts.line_chart` (the review report's
charts); the markup comes from an autoescaping jinja2 template, never from string
concatenation.
"""

from __future__ import annotations

from typing import Final

import jinja2

from jetstream_qa.capture.analysis import RateCheck
from jetstream_qa.report.charts import line_chart

__all__ = ["render_rate_chart"]

_TEMPLATE: Final = """
<figure class="jsqa-rate" id="{{ c.chart_id }}-fig" style="margin: 4px 0">
<figcaption>{{ c.title }}<br><small>{{ caption }}</small></figcaption>
<svg id="{{ c.chart_id }}" width="{{ c.width }}" height="{{ c.height }}"
 viewBox="0 0 {{ c.width }} {{ c.height }}" role="img" aria-label="{{ c.title }}"
 font-family="sans-serif" font-size="10">
<g stroke="#ddd">
{% for t in c.y_ticks %}<line x1="{{ c.left }}" x2="{{ c.right }}" y1="{{ t.pos }}"
 y2="{{ t.pos }}"/><text stroke="none" fill="#555" x="{{ c.left - 6 }}" y="{{ t.pos + 4 }}"
 text-anchor="end">{{ t.label }}</text>{% endfor %}
{% for t in c.x_ticks %}<line x1="{{ t.pos }}" x2="{{ t.pos }}" y1="{{ c.top }}"
 y2="{{ c.bottom }}"/><text stroke="none" fill="#555" x="{{ t.pos }}" y="{{ c.bottom + 14 }}"
 text-anchor="middle">{{ t.label }}</text>{% endfor %}
</g>
<rect x="{{ c.left }}" y="{{ c.top }}" width="{{ c.right - c.left }}"
 height="{{ c.bottom - c.top }}" fill="none" stroke="#999"/>
{% for line in c.lines %}
<polyline data-label="{{ line.label }}" points="{{ line.points }}" fill="none"
 stroke="{{ line.color }}" stroke-width="1.5"{% if line.dashed %}
 stroke-dasharray="6 4"{% endif %}/>
{% endfor %}
<text x="{{ (c.left + c.right) / 2 }}" y="{{ c.height - 4 }}"
 text-anchor="middle">{{ c.x_label }}</text>
</svg>
<ul style="list-style: none; padding: 0; margin: 0">
{% for line in c.lines %}<li><span style="color: {{ line.color }}">&#9632;</span>
 {{ line.label }}</li>{% endfor %}
</ul>
</figure>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render_rate_chart(check: RateCheck, *, title: str, chart_id: str = "jsqa-rate") -> str:
    """Measured bytes/s per bin, the steady mean, the cap and the ceiling of the mean
    (dashed), as an HTML ``<figure>`` with an inline SVG."""
    t_end = check.series[-1][0] + check.window_s if check.series else 1.0
    series = [
        ("measured on the wire (UDP payload)", [(t, bps / 8) for t, bps in check.series],
         False),
        ("sendRateMax", [(0.0, check.limit_bps / 8), (t_end, check.limit_bps / 8)], True),
        (f"ceiling of the steady mean (+{check.tolerance:.0%})",
         [(0.0, check.ceiling_bps / 8), (t_end, check.ceiling_bps / 8)], True),
        ("steady mean (bins 2 to n-1)",
         [(check.window_s, check.mean_bps / 8), (t_end - check.window_s, check.mean_bps / 8)],
         False),
    ]
    chart = line_chart(chart_id, title, series, x_label="seconds since the first datagram",
                       y_label="bytes/s", y_format="rate", width=640, height=220)
    return _ENV.from_string(_TEMPLATE).render(c=chart, caption=check.describe())
