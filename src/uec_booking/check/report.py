"""Reports: a rich table for people, JSON for tools, JUnit XML for CI systems and one
self-contained HTML page to attach to an assurance submission."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from jinja2 import Environment, select_autoescape
from rich.console import Console
from rich.table import Table

from uec_booking.check.model import Outcome, Report

STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.SKIP: "yellow",
    Outcome.PLANNED: "cyan",
}


def table(report: Report, console: Console, *, show_sent: bool = False) -> None:
    grid = Table(title=f"{report.title}: {report.target}", show_lines=show_sent)
    for column in ("case", "result", "title", "expected / observed", "source"):
        grid.add_column(column, overflow="fold")
    for case in report.cases:
        detail = (
            case.reason
            if case.outcome is Outcome.SKIP
            else "\n".join(e.sent() + _status(e.status) for e in case.exchanges)
            if case.outcome is Outcome.PLANNED or show_sent
            else "\n".join(
                f"{a.name}: expected {a.expected}, observed {a.observed}"
                for a in case.assertions
                if not a.ok
            )
            or "as expected"
        )
        grid.add_row(
            case.case_id,
            f"[{STYLE[case.outcome]}]{case.outcome.value}[/]",
            case.title,
            detail,
            case.source,
        )
    console.print(grid)
    for note in report.notes:
        console.print(f"note: {note}")
    summary = ", ".join(f"{report.count(o)} {o.value}" for o in Outcome if report.count(o))
    console.print(f"[{'green' if report.passed else 'bold red'}]{summary}[/]")


def _status(status: int | None) -> str:
    return "" if status is None else f"\n-> HTTP {status}"


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def junit(report: Report) -> str:
    suite = ET.Element(
        "testsuite",
        name=report.title,
        tests=str(len(report.cases)),
        failures=str(report.count(Outcome.FAIL)),
        skipped=str(report.count(Outcome.SKIP) + report.count(Outcome.PLANNED)),
    )
    for case in report.cases:
        element = ET.SubElement(
            suite, "testcase", classname=case.source, name=f"{case.case_id}: {case.title}"
        )
        if case.outcome is Outcome.FAIL:
            failed = [a for a in case.assertions if not a.ok]
            failure = ET.SubElement(
                element, "failure", message=failed[0].name if failed else "failed"
            )
            failure.text = "\n".join(
                f"{a.name}: expected {a.expected}, observed {a.observed}" for a in failed
            )
        elif case.outcome in (Outcome.SKIP, Outcome.PLANNED):
            ET.SubElement(element, "skipped", message=case.reason or case.outcome.value)
        out = ET.SubElement(element, "system-out")
        out.text = "\n\n".join(
            e.sent() + (f"\n-> HTTP {e.status}" if e.status is not None else "")
            for e in case.exchanges
        )
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ r.title }}</title>
<style>
body{font-family:Arial,sans-serif;margin:2em;color:#212b32}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d8dde0;padding:.4em;vertical-align:top}
th{background:#f0f4f5;text-align:left}.pass{color:#007f3b}.fail{color:#d5281b;font-weight:bold}
.skip{color:#8a6d00}.planned{color:#005eb8}pre{white-space:pre-wrap;font-size:.85em;margin:0}
details{margin:.2em 0}
</style></head><body>
<h1>{{ r.title }}</h1>
<p>Target: <code>{{ r.target }}</code></p>
<p>{% for o, n in summary %}<span class="{{ o }}">{{ n }} {{ o }}</span>{% if not loop.last %}, {% endif %}{% endfor %}</p>
{% for note in r.notes %}<p>Note: {{ note }}</p>{% endfor %}
<table><tr><th>Case</th><th>Result</th><th>What</th><th>Expected / observed</th><th>Source</th></tr>
{% for c in r.cases %}<tr><td><code>{{ c.case_id }}</code></td><td class="{{ c.outcome.value }}">{{ c.outcome.value }}</td>
<td>{{ c.title }}{% for e in c.exchanges %}<details><summary>{{ e.method }} (HTTP {{ e.status if e.status is not none else "not sent" }})</summary><pre>{{ e.sent() }}</pre>{% if e.response_body %}<pre>{{ e.response_body }}</pre>{% endif %}</details>{% endfor %}</td>
<td>{% if c.reason %}{{ c.reason }}{% endif %}{% for a in c.assertions %}<div class="{{ 'pass' if a.ok else 'fail' }}">{{ a.name }}: expected {{ a.expected }}{% if not a.ok %}, observed {{ a.observed }}{% endif %}</div>{% endfor %}</td>
<td>{{ c.source }}</td></tr>
{% endfor %}</table></body></html>
"""


def html(report: Report) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    summary = [(o.value, report.count(o)) for o in Outcome if report.count(o)]
    return env.from_string(_HTML).render(r=report, summary=summary)


def render(report: Report, fmt: str, console: Console, *, show_sent: bool = False) -> str | None:
    """The report in `fmt`; for `table`, printed to the console (returns None)."""
    if fmt == "table":
        table(report, console, show_sent=show_sent)
        return None
    return {"json": to_json, "junit": junit, "html": html}[fmt](report)
