"""What a check produces: exchanges (what was sent, what came back), assertions (expected
against observed) and, per case, a result that names the standard's page it comes from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # could not be run here (a precondition the system under test did not give)
    PLANNED = "planned"  # --dry-run: listed, not sent


@dataclass
class Exchange:
    """One HTTP request and (unless planned only) its response, as the wire saw them."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None = None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None

    def sent(self) -> str:
        line = f"{self.method} {self.url}"
        shown = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        if "authorization" in {k.lower() for k in self.headers}:
            shown["Authorization"] = "Bearer …"
        return line + "".join(f"\n{k}: {v}" for k, v in shown.items())


@dataclass
class Assertion:
    name: str
    expected: str
    observed: str
    ok: bool


@dataclass
class CaseResult:
    case_id: str  # the test kit's schedule name or the assurance workbook's test id
    title: str
    source: str  # where the case comes from: kit script / workbook row, and the standard's page
    outcome: Outcome = Outcome.PASS
    assertions: list[Assertion] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    reason: str = ""  # for a skip, why

    def expect(self, name: str, expected: str, observed: object, ok: bool) -> bool:
        shown = str(observed)
        if len(shown) > 300:  # a report names what was wrong; the exchanges hold the rest
            shown = shown[:300] + "…"
        self.assertions.append(Assertion(name, expected, shown, ok))
        if not ok and self.outcome is Outcome.PASS:
            self.outcome = Outcome.FAIL
        return ok

    def skip(self, reason: str) -> None:
        self.outcome, self.reason = Outcome.SKIP, reason

    @property
    def expected(self) -> str:
        return "; ".join(a.expected for a in self.assertions)

    @property
    def observed(self) -> str:
        return "; ".join(a.observed for a in self.assertions if not a.ok) or "as expected"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data


@dataclass
class Report:
    title: str
    target: str
    cases: list[CaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.cases if c.outcome is outcome)

    @property
    def passed(self) -> bool:
        return self.count(Outcome.FAIL) == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "target": self.target,
            "summary": {o.value: self.count(o) for o in Outcome},
            "passed": self.passed,
            "notes": self.notes,
            "cases": [c.to_dict() for c in self.cases],
        }
