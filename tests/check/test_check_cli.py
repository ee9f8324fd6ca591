"""`uec-booking check provider` as a vendor runs it: the report formats, exit codes, and
bad input answered in one sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from typer.testing import CliRunner

from tests.check.conftest import CONSUMER
from tests.check.faulty import double_booking_provider
from uec_booking.asgi_server import ThreadedServer
from uec_booking.cli import app

runner = CliRunner()


def args(manifest: dict[str, Any], *extra: str) -> list[str]:
    return [
        "check",
        "provider",
        manifest["provider"]["url"],
        "--auth",
        "signed",
        "--token-url",
        manifest["auth"]["token_url"],
        "--client-id",
        CONSUMER[0]["client_id"],
        "--client-secret",
        CONSUMER[0]["client_secret"],
        *extra,
    ]


def test_reports_in_every_format(sandbox: dict[str, Any], tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    with ThreadedServer(double_booking_provider()) as fake:  # double-books: one sure failure
        result = runner.invoke(
            app,
            [
                "check",
                "provider",
                f"{fake.url}/fhir",
                "--auth",
                "none",
                "--service",
                "x",
                "--case",
                "SFFSWithNoIncludes",
                "--case",
                "BookAppointment_ConcurrentDoubleBooking",
                "--format",
                "junit",
                "-o",
                str(junit),
            ],
        )
    assert result.exit_code == 1, result.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    names = [t.get("name", "") for t in suite.iter("testcase")]
    assert any(n.startswith("SFFSWithNoIncludes") for n in names)
    failure = next(t for t in suite.iter("testcase") if t.find("failure") is not None)
    assert failure.get("name", "").startswith("BookAppointment_ConcurrentDoubleBooking")
    assert "[201, 201]" in (failure.findtext("failure") or "")

    result = runner.invoke(
        app, args(sandbox, "--case", "Capability_json_accept", "--format", "json")
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] and report["cases"][0]["case_id"] == "Capability_json_accept"
    exchange = report["cases"][0]["exchanges"][0]
    assert exchange["status"] == 200 and exchange["headers"]["Ssp-InteractionID"].endswith(
        "read:metadata"
    )

    page = tmp_path / "report.html"
    result = runner.invoke(
        app, args(sandbox, "--case", "SFFSWrongMethod", "--format", "html", "-o", str(page))
    )
    assert result.exit_code == 0
    html = page.read_text()
    assert (
        "<html" in html and "SFFSWrongMethod" in html and "<script" not in html and "http" in html
    )


def test_dry_run_lists_requests(sandbox: dict[str, Any]) -> None:
    result = runner.invoke(
        app, args(sandbox, "--dry-run", "--case", "BookAppointment_SlotAlreadyBooked")
    )
    assert result.exit_code == 0, result.output
    assert "planned" in result.output and "POST" in result.output


def test_bad_input_is_one_sentence(sandbox: dict[str, Any]) -> None:
    result = runner.invoke(app, args(sandbox, "--case", "NoSuchCase"))
    assert (
        result.exit_code == 2
        and "unknown case id" in result.output
        and "Traceback" not in result.output
    )
    result = runner.invoke(
        app, ["check", "provider", "http://127.0.0.1:9/fhir", "--auth", "signed"]
    )
    assert (
        result.exit_code == 2
        and "--token-url" in result.output
        and "Traceback" not in result.output
    )


def test_unreachable_provider_is_one_sentence() -> None:
    result = runner.invoke(app, ["check", "provider", "http://127.0.0.1:9/fhir"])
    assert (
        result.exit_code == 2
        and "unreachable" in result.output
        and "Traceback" not in result.output
    )
