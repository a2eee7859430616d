"""The client's command surface is exactly docs/protocol.md section 3 (names and params).

protocol.md 3: "Names mirror the vendor's Python methods: ``api.server.X`` is ``X``,
``api.send.X`` is ``send.X``, ``api.recv.X`` is ``recv.X``. Parameters are the Python keyword
names." The tables are parsed from the markdown so a command added there and not here fails.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.client import COMMANDS, UNSET, JetStream

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _section_3() -> str:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    start = text.index("## 3. Commands")
    return text[start:text.index("\n## 4.", start)]


def _strip_parentheses(cell: str) -> str:
    previous = None
    while previous != cell:
        previous, cell = cell, re.sub(r"\([^()]*\)", "", cell)
    return cell


def documented_commands() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """``{name: (required, optional)}`` from the command tables of protocol.md section 3."""
    found: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for line in _section_3().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 2:
            continue
        name = re.match(r"`([A-Za-z.]+)`", cells[0])
        assert name, line
        params_cell = _strip_parentheses(cells[1]) if len(cells) == 3 else "-"
        names = re.findall(r"`([A-Za-z]+)(\??)`", params_cell)
        required = tuple(n for n, q in names if not q)
        optional = tuple(n for n, q in names if q)
        found[name.group(1)] = (required, optional)
    return found


def test_markdown_parser_sees_every_section() -> None:
    documented = documented_commands()
    assert documented["send.createTransfer"][0] == ("destinationId", "manifestId")
    assert "recv.getSourcesAsync" in documented and "getServerInfo" in documented


def test_command_table_matches_protocol_md() -> None:
    documented = documented_commands()
    ours = {name: (spec.required, spec.optional) for name, spec in COMMANDS.items()}
    assert ours == documented


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_namespace_method_signature_matches_the_table(name: str) -> None:
    spec = COMMANDS[name]
    api = JetStream().api("127.0.0.1", 1)
    method = getattr(getattr(api, spec.namespace), spec.method)
    params = list(inspect.signature(method).parameters.values())
    assert [p.name for p in params] == list(spec.params)
    for p in params[:len(spec.required)]:
        assert p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty, p
    for p in params[len(spec.required):]:
        assert p.kind is p.KEYWORD_ONLY and p.default is UNSET, p


def _sample(param: str) -> Any:
    if param == "requestId":
        return 3
    if param in {"mappings", "userData", "mapping"}:
        return {"a": "b"}
    if param == "keys":
        return ["k"]
    return f"v-{param}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_namespace_method_sends_its_command_with_its_params(name: str) -> None:
    spec = COMMANDS[name]
    api = JetStream().api("127.0.0.1", 1)
    sent: list[tuple[str, dict[str, Any]]] = []

    def fake_call(command: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
        sent.append((command, dict(params or {})))
        return {"status": "complete"}

    api.call = fake_call  # type: ignore[method-assign]
    method = getattr(getattr(api, spec.namespace), spec.method)
    method(*[_sample(p) for p in spec.required])
    assert sent == [(name, {p: _sample(p) for p in spec.required})]
    if spec.optional:
        sent.clear()
        optional = {p: (1 if p == "timeout" else _sample(p)) for p in spec.optional}
        method(*[_sample(p) for p in spec.required], **optional)
        assert sent[0][1] == {**{p: _sample(p) for p in spec.required}, **optional}
