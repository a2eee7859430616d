"""The goodput tab of Locust's web UI, and a live goodput chart page.

Locust's UI takes extra tabs as data (``template_args["extended_tabs"]`` /
``["extended_tables"]``, rows in the ``extended_stats`` member of ``/stats/requests``); the
tab "JetStream goodput" lists, per scenario and in total, the live goodput, the bytes
delivered and a sparkline of the last minute. ``/jetstream/goodput`` is a chart page (inline
SVG redrawn every second from ``/jetstream/goodput.json``). Both read the process's recorder:
on a master, the merge of every worker's reports, the statistics reports/load.json is
written from (:func:`jetstream_qa.loadstats.live.live_goodput`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

from jetstream_qa.loadstats.live import live_goodput
from jetstream_qa.locust_user.state import State

__all__ = ["TAB_KEY", "install", "snapshot"]

TAB_KEY: Final = "jetstream-goodput"
_PAGE: Final = Path(__file__).with_name("goodput.html")
_STRUCTURE: Final = [{"key": "scenario", "title": "Scenario"},
                     {"key": "now", "title": "Goodput (last 5 s, 4 s ago)"},
                     {"key": "delivered", "title": "Delivered"},
                     {"key": "trend", "title": "Last 60 s"}]


def snapshot() -> dict[str, Any]:
    """The live goodput of this process's session (empty before the session exists)."""
    session = State.session
    if session is None:
        return {"rows": [], "series": []}
    return live_goodput(session.recorder, now=time.time(), started=session.started)


def install(environment: Any, web_ui: Any) -> None:
    """Add the tab and the chart page to ``web_ui`` (once per process)."""
    if State.webui_installed:
        return
    State.webui_installed = True
    from flask import Response, request  # Locust's own dependency, only with a web UI

    web_ui.template_args["extended_tabs"] = [{"title": "JetStream goodput", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": _STRUCTURE}]
    app = web_ui.app

    def add_goodput(response: Any) -> Any:
        if request.path.endswith("/stats/requests") and response.is_json:
            data = dict(response.get_json())
            rows = [{k: row[k] for k in ("scenario", "now", "delivered", "trend")}
                    for row in snapshot()["rows"]]
            data["extended_stats"] = [{"key": TAB_KEY, "data": rows}]
            response.set_data(json.dumps(data))
        return response

    def goodput_json() -> Any:
        return Response(json.dumps(snapshot()), mimetype="application/json")

    def goodput_page() -> Any:
        return Response(_PAGE.read_text(encoding="utf-8"), mimetype="text/html")

    app.after_request(add_goodput)
    app.add_url_rule("/jetstream/goodput.json", "jsqa_goodput_json", goodput_json)
    app.add_url_rule("/jetstream/goodput", "jsqa_goodput_page", goodput_page)
