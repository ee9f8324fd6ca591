"""The booking console in real headless Chromium against a running sandbox: a call handler
books, meets the 422 path, cancels and rebooks, and the reports page shows those events."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uec_booking.sandbox import Sandbox

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright NOT INSTALLED: browser tests skipped"
)
if not Path(CHROMIUM).exists():
    pytest.skip(
        "CHROMIUM NOT INSTALLED (apt-get install chromium): browser tests skipped",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def console() -> Iterator[str]:
    with Sandbox(days=2) as manifest:
        yield manifest["console"]["url"]


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = chromium.new_context()
        try:
            yield context
        finally:
            failed = getattr(request.node, "rep_call", None)
            if failed is not None and failed.failed:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                for i, page in enumerate(context.pages):
                    page.screenshot(
                        path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True
                    )
            chromium.close()


def to_slots(page: Any, console: str, nhs_number: str, postcode: str) -> None:
    page.goto(console + "/")
    page.get_by_label("NHS number").fill(nhs_number)
    page.get_by_label("Postcode where the patient is").fill(postcode)
    page.get_by_role("button", name="Find services").click()
    page.locator("#services li").first.get_by_role("button").click()
    page.wait_for_selector("input[name=slot_id]")


def test_book_slot_gone_cancel_rebook_and_report(console: str, browser: Any) -> None:
    first, second = browser.new_page(), browser.new_page()
    to_slots(first, console, "9000000009", "LS1 6AE")
    to_slots(second, console, "9000000017", "LS1 4HR")
    # Both call handlers see the same first slot; the second books it first.
    second.get_by_role("button", name="Book this slot").click()
    assert second.locator("#confirmation").inner_text().startswith("Appointment booked")
    first.get_by_role("button", name="Book this slot").click()
    assert first.locator("#slot-taken").is_visible(), "the 422 path is said plainly"
    first.get_by_role("button", name="Book this slot").click()
    assert "Appointment booked" in first.locator("#confirmation").inner_text()
    booked = first.locator("#appointment-id").inner_text()
    assert first.locator("#trace-id").inner_text()

    first.get_by_role("button", name="Rebook at another time").click()
    assert (
        "In-person" in first.locator("label.nhsuk-radios__label").first.inner_text()
    )  # delivery channel
    first.locator("input[name=slot_id]").nth(3).check()
    first.get_by_role("button", name="Book the new time").click()
    assert "Appointment rebooked" in first.locator("#confirmation").inner_text()
    assert booked in first.content()  # the old one is named as cancelled
    first.get_by_role("button", name="Cancel this appointment").click()
    assert first.locator("#message-title").inner_text() == "Appointment cancelled"

    diary = browser.new_page()
    from datetime import UTC, datetime, timedelta

    shown = ""
    for offset in range(3):  # the first free slot is today or tomorrow
        day = (datetime.now(UTC) + timedelta(days=offset)).date().isoformat()
        diary.goto(f"{console}/provider?day={day}")
        shown += diary.content()
    assert "booked: NHS 9000000017, by sandbox-111-consumer" in shown
    assert "cancelled: NHS 9000000009" in shown
    assert diary.locator("#audit tr").count() > 1
    diary.goto(f"{console}/provider?view=week")
    week = diary.locator("#week tr[data-service='2000100001']").inner_text()
    assert "booked" in week and "free" in week

    report = browser.new_page()
    report.goto(console + "/reports")
    metrics = {
        row.get_attribute("data-metric"): row.inner_text()
        for row in report.locator("tr[data-metric]").all()
    }
    assert "slot gone: 1" in metrics["rep-cons-10"]
    assert "booked: 3" in metrics["rep-cons-01"]  # two bookings and the rebooking
    assert "cancelled: 1" in metrics["rep-cons-13"] and "re-booked: 1" in metrics["rep-cons-14"]
    assert report.locator("#chart rect").count() > 0


def test_errors_next_to_the_field_and_keyboard_use(console: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(console + "/")
    page.keyboard.press("Tab")  # the skip link takes focus first
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    page.get_by_label("NHS number").fill("9000000001")
    page.get_by_label("Postcode where the patient is").fill("LS1 6AE")
    page.get_by_label("Postcode where the patient is").press("Enter")
    assert "not a valid NHS number" in page.locator("#nhs_number-error").inner_text()
    assert page.locator(".nhsuk-error-summary").is_visible()
    page.get_by_label("NHS number").fill("9000000009")
    page.get_by_label("Date of birth (optional)").fill("1999-01-01")
    page.get_by_role("button", name="Find services").click()
    assert "do not match" in page.locator(".nhsuk-error-summary").inner_text()
    page.get_by_label("Date of birth (optional)").fill("")
    page.get_by_label("NHS number").fill("9000000025")
    page.get_by_label("Postcode where the patient is").fill("BD1 1HY")
    page.get_by_role("button", name="Find services").click()
    walk_in = page.locator("li[data-service='2000100004']")
    assert "Referral only" in walk_in.inner_text()
    page.goto(page.url.rsplit("/", 1)[0] + "/")
    page.get_by_label("NHS number").fill("9000000041")
    page.get_by_label("Postcode where the patient is").fill("WF1 2EB")
    page.get_by_role("button", name="Find services").click()
    # DoS names a booking ASID that SDS does not know: shown as referral-only, with the reason.
    wakefield = page.locator("li[data-service='2000100005']")
    assert (
        "Referral only" in wakefield.inner_text() and wakefield.get_by_role("button").count() == 0
    )
