"""Conformance cases as data: :class:`CaseSpec` (what a case claims), :class:`CaseResult`
(what running it showed) and :class:`MatrixCoord` (where a matrix case sits).

Case ids are stable names tied to areas, h2spec-style but with names instead of ordinals:
``handshake/api-version/equals-expected``. The first segment is the area. Parametrised cases
get the parameter id appended as one more segment (``flags/matrix/rw-always-none-follow``), or
fill ``{name}`` placeholders of the marker id from their parameters. Cases register by marker
and discovery; there is no hand-kept list (STYLE 4).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.conformance_core.verdicts import Level, Verdict

__all__ = [
    "MATRIX_AXES",
    "CaseResult",
    "CaseSpec",
    "MatrixCoord",
    "case_id_for",
    "matches",
    "requirement_from_doc",
]

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
MATRIX_AXES = ("flags", "overwrite", "cipher", "symlink", "preState")
"""Coordinates of a matrix case, in report order (``preState`` names the destination state)."""


def _check_id(case_id: str) -> None:
    parts = case_id.split("/")
    if len(parts) < 2 or not all(_SEGMENT.match(p) for p in parts):
        raise ValueError(
            f"bad case id {case_id!r}: expected 'area/topic/requirement', lowercase segments "
            "of [a-z0-9._+-] separated by '/'")


@dataclass(frozen=True, slots=True)
class MatrixCoord:
    """Position of a matrix case: transfer flags x overwrite mode x cipher x symlink mode,
    against a destination pre-state (``absent``, ``older``, ``newer``, ``same-size`` ...)."""

    flags: int
    overwrite: int
    cipher: int
    symlink: int
    preState: str = "absent"

    def __post_init__(self) -> None:
        for axis in ("flags", "overwrite", "cipher", "symlink"):
            value = getattr(self, axis)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"matrix {axis} must be a non-negative int, got {value!r}")
        if not self.preState:
            raise ValueError("matrix preState must be non-empty")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MatrixCoord:
        """Build from ``flags/overwrite/cipher/symlink`` and ``preState`` (or ``pre_state``).

        Raises:
            ValueError: a missing or bad axis (named).
        """
        missing = [a for a in MATRIX_AXES[:4] if a not in data]
        if missing:
            raise ValueError(f"matrix coordinates lack {', '.join(missing)}")
        pre = data.get("preState", data.get("pre_state", "absent"))
        return cls(int(data["flags"]), int(data["overwrite"]), int(data["cipher"]),
                   int(data["symlink"]), str(pre))

    def to_dict(self) -> dict[str, Any]:
        return {"flags": self.flags, "overwrite": self.overwrite, "cipher": self.cipher,
                "symlink": self.symlink, "preState": self.preState}


def requirement_from_doc(doc: str | None) -> str:
    """The requirement sentence of a case: the first paragraph of its docstring, one line."""
    if not doc:
        return ""
    first = doc.strip().split("\n\n", 1)[0]
    return " ".join(first.split())


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """What a case claims: id, level, vendor source, requirement, optional matrix position."""

    id: str
    level: Level
    source: str
    requirement: str
    matrix: MatrixCoord | None = None
    nodeid: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if not self.requirement:
            raise ValueError(f"case {self.id!r} states no requirement (give it a docstring)")

    @property
    def area(self) -> str:
        """The first segment of the id (``handshake``, ``timeouts`` ...)."""
        return self.id.split("/", 1)[0]


def case_id_for(base: str, params: Mapping[str, Any], param_id: str | None) -> str:
    """The id of one (possibly parametrised) case.

    ``base`` may hold ``{name}`` placeholders filled from ``params``; without placeholders a
    parametrised case gets ``param_id`` (pytest's callspec id, lowercased, unsafe characters
    replaced by ``-``) as an extra segment.

    Raises:
        ValueError: a placeholder with no parameter of that name, or a bad resulting id.
    """
    if "{" in base:
        try:
            case_id = base.format(**params)
        except (KeyError, IndexError) as exc:
            raise ValueError(f"case id {base!r}: no parameter for placeholder {exc}") from None
    elif param_id:
        safe = re.sub(r"[^a-z0-9._+-]+", "-", param_id.lower()).strip("-")
        case_id = f"{base}/{safe}"
    else:
        case_id = base
    _check_id(case_id)
    return case_id


def matches(case_id: str, globs: Iterable[str]) -> bool:
    """True when ``case_id`` matches any glob (``*`` crosses '/'); no globs matches all."""
    globs = tuple(globs)
    return not globs or any(fnmatch.fnmatchcase(case_id, g) for g in globs)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One finished case, in the shape of ``reports/conformance.json`` ``cases[]``."""

    spec: CaseSpec
    verdict: Verdict
    duration_s: float = 0.0
    expected: str = ""
    actual: str = ""
    calls: tuple[str, ...] = ()
    expected_verdict: Verdict | None = None
    expectation_reason: str = ""
    requirement: str = ""
    """The requirement the failing check stated, when more precise than the case's own."""
    observations: tuple[str, ...] = field(default=())
    suite_error: bool = False
    """The case (or the harness) crashed on its own bug: no verdict on the server."""

    def __post_init__(self) -> None:
        if self.duration_s < 0:
            raise ValueError(f"negative duration {self.duration_s}")

    @property
    def unexpected(self) -> bool:
        """True when an expectation file named a different verdict."""
        return self.expected_verdict is not None and self.expected_verdict is not self.verdict

    @property
    def expected_by_file(self) -> bool:
        """True when an expectation file named exactly this verdict (a known issue)."""
        return self.expected_verdict is not None and self.expected_verdict is self.verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (schema ``jetstream-qa/conformance/1`` plus ``level``/``nodeid``)."""
        return {
            "id": self.spec.id,
            "area": self.spec.area,
            "level": self.spec.level.value,
            "nodeid": self.spec.nodeid,
            "verdict": self.verdict.value,
            "requirement": self.requirement or self.spec.requirement,
            "source": self.spec.source,
            "durationS": round(self.duration_s, 6),
            "expected": self.expected,
            "actual": self.actual,
            "calls": list(self.calls),
            "matrix": self.spec.matrix.to_dict() if self.spec.matrix else None,
            "expectedVerdict": self.expected_verdict.value if self.expected_verdict else None,
            "expectationReason": self.expectation_reason or None,
            "unexpected": self.unexpected,
            "observations": list(self.observations),
            "suiteError": self.suite_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """Inverse of :meth:`to_dict` (results cross from xdist workers as dicts).

        Raises:
            ValueError, KeyError: malformed data.
        """
        matrix = MatrixCoord.from_mapping(data["matrix"]) if data.get("matrix") else None
        spec = CaseSpec(id=data["id"], level=Level.parse(data.get("level", "MUST")),
                        source=data.get("source", ""), requirement=data["requirement"],
                        matrix=matrix, nodeid=data.get("nodeid", ""))
        expected_verdict = data.get("expectedVerdict")
        return cls(
            spec=spec, verdict=Verdict(data["verdict"]), duration_s=float(data["durationS"]),
            expected=data.get("expected", ""), actual=data.get("actual", ""),
            calls=tuple(data.get("calls", ())),
            expected_verdict=Verdict(expected_verdict) if expected_verdict else None,
            expectation_reason=data.get("expectationReason") or "",
            observations=tuple(data.get("observations", ())),
            suite_error=bool(data.get("suiteError", False)),
        )
