"""The booking console in real headless Chromium against a running sandbox: sign-in, a
cross-site form refused, booking a later slot with JavaScript off, a patient away from
home, the 422 path, cancel (with confirmation) and rebook, the diary (blocking and freeing a
slot in it), the reports, each national service's outage, and an axe-core accessibility check
of every page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.support import PASSWORDS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
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
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def contexts(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Any]:
    """`contexts(**options)` → a fresh browser context (its own cookies); screenshots kept
    of every page when the test fails."""
    made: list[Any] = []

    def new(**options: Any) -> Any:
        context = chromium.new_context(**options)
        made.append(context)
        return context

    yield new
    failed = getattr(request.node, "rep_call", None)
    for n, context in enumerate(made):
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(context.pages):
                page.screenshot(
                    path=str(ARTIFACTS / f"{request.node.name}-{n}-{i}.png"), full_page=True
                )
        context.close()


@pytest.fixture
def browser(contexts: Any) -> Any:
    return contexts()


def sign_in(page: Any, console: str, username: str, path: str = "/") -> None:
    page.goto(console + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(console + "/**")


def find_services(page: Any, console: str, nhs_number: str, where: str, **checked: str) -> None:
    page.goto(console + "/")
    page.get_by_label("NHS number").fill(nhs_number)
    page.get_by_label("Postcode where the patient is now").fill(where)
    for label, value in checked.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Find services").click()


def to_slots(
    page: Any, console: str, nhs_number: str, where: str, service: str | None = None
) -> None:
    find_services(page, console, nhs_number, where)
    at = f"#services li[data-service='{service}'] button" if service else "#services button"
    page.locator(at).first.click()  # the first bookable service, or the one named
    page.wait_for_selector("input[name=slot_id]")


def report_figures(page: Any, console: str) -> dict[str, int]:
    """Today's consumer figures on the reports page: {"rep-cons-01 booked": 3, ...}."""
    page.goto(console + "/reports")
    figures: dict[str, int] = {}
    for row in page.locator("tr[data-metric]").all():
        metric = row.get_attribute("data-metric")
        for part in row.locator("td").nth(2).inner_text().split(", "):
            name, _, value = part.partition(": ")
            if value.isdigit():
                figures[f"{metric} {name}"] = int(value)
    return figures


def test_sign_in_and_out(console: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(console + "/reports")
    assert "Sign in" in page.title(), "unauthenticated: the identity provider's sign-in"
    page.get_by_label("Username").fill("call.handler")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.title().startswith("Error:") and page.locator("#signin-error").is_visible()
    page.get_by_label("Username").fill("call.handler")
    page.get_by_label("Password").fill(PASSWORDS["call.handler"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(console + "/reports")  # back where they were going
    assert "Alex Morgan (call handler)" in page.locator("#signed-in-as").inner_text()
    assert page.get_by_role("link", name="Provider diary").count() == 0
    page.goto(console + "/provider")
    assert page.title().startswith("Error: You cannot use this page")
    page.get_by_role("button", name="Sign out").click()
    assert page.locator("#message-title").inner_text() == "You are signed out"
    page.goto(console + "/")
    assert "Sign in" in page.title()


def test_a_cross_site_form_is_refused(console: str, browser: Any) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from uec_booking.asgi_server import ThreadedServer

    async def attack(request: Any) -> HTMLResponse:
        return HTMLResponse(
            f'<!DOCTYPE html><title>Win a prize</title><form method="post" action="{console}/services">'
            '<input name="nhs_number" value="9000000009"><input name="location_postcode" value="LS1 6AE">'
            '<button id="go">Claim</button></form>'
        )

    evil = ThreadedServer(Starlette(routes=[Route("/", attack)]), host="127.0.0.1").start()
    try:
        page = browser.new_page()
        sign_in(page, console, "call.handler")
        page.goto(evil.url + "/")
        page.click("#go")
        assert page.url.startswith(console)
        assert page.title().startswith("Error: This form was not sent from the console")
        assert "Services for" not in page.content()
    finally:
        evil.stop()


def test_book_a_later_slot_without_javascript(console: str, contexts: Any) -> None:
    page = contexts(java_script_enabled=False).new_page()
    sign_in(page, console, "call.handler")
    before = report_figures(page, console)
    to_slots(page, console, "9000000025", "BD1 1HY", service="2000100001")
    # The last day offered is a whole one whatever the hour the suite runs (late in the day,
    # today has few slots or none).
    page.locator("#days a").last.click()
    radios = page.locator("input[name=slot_id]")
    assert radios.count() > 4
    chosen = radios.nth(4)
    label = page.locator(f"label[for='{chosen.get_attribute('id')}']").inner_text()
    assert "Khan" in page.locator("#patient").inner_text(), "the patient's name on the slots"
    chosen.check()
    page.get_by_role("button", name="Book this slot").click()
    assert "Appointment booked" in page.locator("#confirmation").inner_text()
    assert label.split("\N{EN DASH}")[0] in page.locator("#when").inner_text(), (
        "the slot chosen, not the first"
    )
    assert "Khan" in page.locator("#confirmation").inner_text()
    tell = page.locator("#tell-patient").inner_text()
    assert tell.startswith("Your appointment is at Leeds Urgent Treatment Centre")
    # The service's address and phone (DoS), the practitioner, the time in UK time.
    address, phone = "12 Wellington Street, Leeds, LS1 4HR", "0113 496 0101"
    assert page.locator("#service-address").inner_text() == address
    assert page.locator("#service-phone").inner_text() == phone
    practitioner = label.split(", ")[1]  # the label: times, practitioner, location
    assert practitioner in ("Mrs Sarah Black", "Dr Daniel Okafor"), label
    assert page.locator("#practitioner").inner_text() == practitioner
    assert (
        f"with {practitioner}" in tell and f"Go to Leeds Urgent Treatment Centre, {address}" in tell
    )
    assert f"call {phone}" in tell
    assert "When (UK time)" in page.locator("main").inner_text()
    # A later slot booked without JavaScript is a booking, not an error, on both sides.
    after = report_figures(page, console)
    grew = {k: after[k] - before.get(k, 0) for k in after}
    assert grew["rep-cons-01 booked"] == 1, grew
    assert grew["rep-cons-12 errors"] == 0 and grew["rep-prov-12 errors"] == 0, grew
    assert grew["rep-prov-01 booked"] == 1, grew


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_slots_by_practitioner_timeframe_and_the_book_button(
    console: str, contexts: Any, javascript: bool
) -> None:
    """The slot list: filtered by practitioner, slots beyond the disposition's timeframe
    (Dx05: within 2 hours) tagged, and "Book this slot" in view wherever the list is
    scrolled; each a plain form or CSS, so with JavaScript and without."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    height = 700
    page = contexts(
        java_script_enabled=javascript, viewport={"width": 1000, "height": height}
    ).new_page()
    sign_in(page, console, "call.handler")
    to_slots(page, console, "9000000017", "LS1 4HR", service="2000100001")
    assert (
        "Dx05 To contact a Primary Care Service within 2 hours"
        in page.locator("#patient").inner_text()
    )

    def shown() -> list[str]:
        return [label.inner_text() for label in page.locator("#slot-list label").all()]

    def book_button_in_view() -> bool:
        box = page.locator("#book").bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height

    # Slots after now + 2 hours are tagged, those before it are not.
    limit = datetime.now(ZoneInfo("Europe/London")) + timedelta(hours=2)
    marked = 0
    for link in range(page.locator("#days a").count()):
        page.locator("#days a").nth(link).click()
        day = page.locator("#slot-list legend").inner_text().removesuffix(" (UK time)")
        for label in shown():
            start = datetime.strptime(f"{day} {limit.year} {label[:5]}", "%A %d %B %Y %H:%M")
            late = start.replace(tzinfo=limit.tzinfo) > limit
            assert ("after the timeframe" in label) == late, (day, label, limit)
            marked += late
    assert marked > 0, "the last day's slots are all beyond 2 hours"

    # The last day is a whole one: a list far taller than the window, the button in view.
    page.locator("#days a").last.click()
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * height
    assert book_button_in_view(), "at the top of the list"
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight / 2)")
    assert book_button_in_view(), "halfway down the list"
    everyone = shown()
    assert any("Black" in t for t in everyone) and any("Okafor" in t for t in everyone)
    day = page.locator("#days a[aria-current=page]").inner_text()

    page.get_by_label("Practitioner").select_option("Dr Daniel Okafor")
    page.get_by_role("button", name="Show").click()
    okafor = shown()
    assert okafor and all("Dr Daniel Okafor" in t for t in okafor), okafor
    assert len(okafor) < len(everyone)
    assert page.get_by_label("Practitioner").input_value() == "Dr Daniel Okafor"
    assert page.locator("#days a[aria-current=page]").inner_text() == day, "same day"
    page.locator("#days a").first.click()  # another day keeps the filter
    assert all("Okafor" in t for t in shown()), shown()
    page.get_by_label("Practitioner").select_option("")
    page.get_by_role("button", name="Show").click()
    assert any("Black" in t for t in shown()) or not shown()


def test_symptom_groups_are_chosen_from_the_sandbox_dos_list(console: str, browser: Any) -> None:
    """Symptom groups by code (SG1010…): the repo has no source for their NHS Pathways names.
    The list is the groups the sandbox DoS is profiled with, each of which it knows."""
    from uec_booking.sample_data import load

    page = browser.new_page()
    sign_in(page, console, "call.handler")
    options = page.locator("#symptom_group option")
    offered = {o.get_attribute("value"): o.inner_text() for o in options.all()}
    profiled = {g for s in load()["healthcare_services"] for g in s.get("symptom_groups", [])}
    assert offered == {str(g): f"SG{g}" for g in sorted(profiled)}, offered
    assert page.get_by_label("Symptom group").input_value() == "1010", "the default"

    def search(group: str, disposition: str) -> str:
        page.get_by_label("NHS number").fill("9000000009")
        page.get_by_label("Postcode where the patient is now").fill("LS2 9LU")
        page.get_by_label("Disposition (NHS Pathways outcome)").select_option(disposition)
        page.get_by_label("Symptom group").select_option(group)
        page.get_by_role("button", name="Find services").click()
        assert page.title().startswith("Services for Jane Smith"), page.title()
        return str(page.locator("#services").inner_text())

    assert "Leeds Emergency Dental Service" in search("1220", "Dx07")
    page.goto(console + "/")
    # DoS's "no services found" (fault 102) is an answer, not DoS down.
    assert "No services found for this case near LS2 9LU" in search("1220", "Dx05")


def test_patient_away_from_home_and_postcode_messages(console: str, browser: Any) -> None:
    page = browser.new_page()
    sign_in(page, console, "call.handler")
    # Jane Smith lives in Leeds (LS1 6AE) and is calling from Wakefield.
    find_services(
        page, console, "9000000009", "wf1 2eb", **{"Home postcode (registered address)": "ls16ae"}
    )
    assert page.locator("#location").inner_text() == "WF1 2EB", "postcodes normalised"
    assert page.locator("#services li").first.get_attribute("data-service") == "2000100005"
    find_services(page, console, "9000000009", "not a postcode")
    assert "Enter a real postcode" in page.locator("#location_postcode-error").inner_text()
    assert page.title().startswith("Error:")
    assert page.evaluate("document.activeElement.id") == "error-summary", "focus to the summary"
    assert page.get_by_label("NHS number").input_value() == "9000000009", "what was entered stays"
    find_services(page, console, "9000000009", "ZZ9 9ZZ")
    assert "does not know ZZ9 9ZZ" in page.locator("#location_postcode-error").inner_text()
    find_services(page, console, "9000000009", "LS1 6AE", **{"Date of birth": "1985-13-40"})
    assert "day/month/year" in page.locator("#birth_date-error").inner_text()
    find_services(page, console, "9000000009", "LS1 6AE", **{"Date of birth": "22/10/1985"})
    assert page.title().startswith("Services for Jane Smith")


def test_book_slot_gone_cancel_rebook_and_report(console: str, contexts: Any) -> None:
    first, second = contexts().new_page(), contexts().new_page()
    sign_in(first, console, "call.handler")
    before = report_figures(first, console)
    sign_in(second, console, "supervisor")
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

    first.get_by_role("button", name="Rebook at another time").click()
    assert "In-person" in first.locator("label.nhsuk-radios__label").first.inner_text()
    first.locator("#days a").last.click()  # a whole day, as above
    first.locator("input[name=slot_id]").nth(3).check()
    first.get_by_role("button", name="Book the new time").click()
    assert "Appointment rebooked" in first.locator("#confirmation").inner_text()
    assert booked in first.content()  # the old one is named as cancelled
    # Booking Jane again at the same service warns.
    again = first.context.new_page()
    to_slots(again, console, "9000000009", "LS1 6AE")
    assert again.locator("#already-booked").is_visible()
    first.get_by_role("button", name="Cancel this appointment").click()
    assert first.title().startswith("Cancel the appointment?"), "cancelling asks first"
    first.get_by_role("button", name="Yes, cancel the appointment").click()
    assert first.locator("#message-title").inner_text() == "Appointment cancelled"

    diary = contexts().new_page()
    sign_in(diary, console, "receptionist", "/provider")
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    shown = ""
    today = datetime.now(ZoneInfo("Europe/London")).date()
    for offset in range(3):  # the first free slot is today or tomorrow (UK days)
        diary.goto(f"{console}/provider?day={today + timedelta(days=offset)}")
        shown += diary.content()
    assert "booked: Peter David Jones, NHS 9000000017, by sandbox-111-consumer" in shown
    assert "cancelled: Jane Smith, NHS 9000000009" in shown
    assert "Mrs Sarah Black" in shown, "the practitioner column"
    assert ">free<" in shown and ">booked<" in shown, "the receptionist's words"
    diary.goto(f"{console}/provider?view=week")
    week = diary.locator("#week tr[data-service='2000100001']").inner_text()
    assert "booked" in week and "free" in week

    after = report_figures(diary, console)  # staff see the reports too
    grew = {k: after[k] - before.get(k, 0) for k in after}
    assert grew["rep-cons-10 slot gone"] == 1
    assert grew["rep-cons-01 booked"] == 3  # two bookings and the rebooking
    assert grew["rep-cons-13 cancelled"] == 1 and grew["rep-cons-14 re-booked"] == 1
    assert diary.locator("#chart rect").count() > 0
    assert "rep-cons-01 booked" in diary.locator("#chart").text_content(), "chart labels"


def test_diary_shows_the_booking_in_uk_time(console: str, contexts: Any) -> None:
    handler = contexts().new_page()
    sign_in(handler, console, "call.handler")
    to_slots(handler, console, "9000000041", "WF1 2EB")
    handler.get_by_role("button", name="Book this slot").click()
    when = handler.locator("#when").inner_text()  # e.g. "Wednesday 02 December, 12:00-12:15"
    day_words, times = when.split(", ")
    from datetime import datetime

    day = datetime.strptime(f"{day_words} {datetime.now().year}", "%A %d %B %Y").date()
    staff = contexts().new_page()
    sign_in(staff, console, "receptionist", f"/provider?day={day.isoformat()}")
    row = staff.locator("tr", has_text="Evans").first
    assert times in row.inner_text(), (times, row.inner_text())


def test_staff_block_and_unblock_a_slot_in_the_diary(console: str, contexts: Any) -> None:
    handler = contexts().new_page()
    sign_in(handler, console, "call.handler")
    to_slots(handler, console, "9000000009", "LS1 6AE")
    slot = handler.locator("input[name=slot_id]").first.get_attribute("value")
    staff = contexts().new_page()
    sign_in(staff, console, "receptionist", "/provider")
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/London")).date()
    row = staff.locator(f"tr[data-slot='{slot}']")
    for offset in range(3):  # the first free slot is today or tomorrow (UK days)
        staff.goto(f"{console}/provider?day={today + timedelta(days=offset)}")
        if row.count():
            break
    row.get_by_label("Reason for blocking").fill("Clinician off sick")
    row.get_by_role("button", name="Block").click()
    assert "blocked" in row.locator("td[data-label=Status]").inner_text()
    assert "Clinician off sick" in staff.locator("#audit").inner_text()
    # The call handler's next search no longer offers it.
    to_slots(handler, console, "9000000009", "LS1 6AE")
    assert handler.locator(f"input[name=slot_id][value='{slot}']").count() == 0
    row.get_by_role("button", name="Unblock").click()
    assert "free" in row.locator("td[data-label=Status]").inner_text()
    to_slots(handler, console, "9000000009", "LS1 6AE")
    assert handler.locator(f"input[name=slot_id][value='{slot}']").count() == 1


OUTAGES = {
    "pds_url": ("find", "The Personal Demographics Service (PDS) is not answering"),
    "dos_wsdl": ("find", "The Directory of Services (DoS) is not answering"),
    "sds_url": ("find", "The Spine Directory Service (SDS) is not answering"),
    "auth_token_url": ("slots", "The NHS authentication service is not answering"),
    "ssp_url": (
        "slots",
        "The service's booking system (through the Spine Secure Proxy) is not answering",
    ),
    "client_secret": ("slots", "This system's credentials were refused"),
}


@pytest.fixture(scope="module")
def outage_consoles(sandbox: dict[str, Any]) -> Iterator[dict[str, str]]:
    """One console per failure, each with one service pointing at a closed port (or, for
    `client_secret`, a wrong secret), signing in at their own identity provider."""
    from uec_booking.asgi_server import ThreadedServer
    from uec_booking.console.app import Console, create_app
    from uec_booking.console.settings import ConsoleSettings
    from uec_booking.consumer.config import from_manifest, load_config
    from uec_booking.netutil import free_port
    from uec_booking.sample_data import load
    from uec_booking.spine import identity

    ports = {name: free_port("127.0.0.1") for name in OUTAGES}
    closed = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    broken = {
        "pds_url": closed,
        "dos_wsdl": closed + "/?wsdl",
        "sds_url": f"ldap://127.0.0.1:{free_port('127.0.0.1')}",
        "auth_token_url": closed + "/oauth2/token",
        "ssp_url": closed,
        "client_secret": "not-the-secret",
    }
    server = identity.IdentityServer(
        issuer="http://127.0.0.1:0",
        people=identity.people_from_directory(load()),
        clients=[
            identity.OidcClient(
                "outage-console",
                "outage-secret",
                tuple(f"http://127.0.0.1:{p}/signin/callback" for p in ports.values()),
            )
        ],
    )
    idp = ThreadedServer(identity.create_app(server), host="127.0.0.1")
    server.issuer = idp.url
    idp.start()
    servers = [idp]
    urls: dict[str, str] = {}
    try:
        for name, port in ports.items():
            config = load_config(**{**from_manifest(sandbox), name: broken[name]})
            settings = ConsoleSettings(
                oidc_issuer=idp.url,
                oidc_client_id="outage-console",
                oidc_client_secret="outage-secret",
                public_url=f"http://127.0.0.1:{port}",
            )
            app = create_app(Console(config, None, settings))
            servers.append(ThreadedServer(app, host="127.0.0.1", port=port).start())
            urls[name] = settings.public_url
        yield urls
    finally:
        for s in servers:
            s.stop()


@pytest.mark.parametrize("broken", sorted(OUTAGES))
def test_each_outage_names_the_service(
    broken: str, outage_consoles: dict[str, str], browser: Any
) -> None:
    console = outage_consoles[broken]
    step, words = OUTAGES[broken]
    page = browser.new_page()
    sign_in(page, console, "call.handler")
    if step == "find":
        find_services(page, console, "9000000009", "LS1 6AE")
    else:
        find_services(page, console, "9000000009", "LS1 6AE")
        page.locator("#services button").first.click()
    text = page.locator("main").inner_text()
    assert words in text, text
    assert page.title().startswith("Error:")
    assert "Referral only" not in text and "do not refer" not in text
    assert text.count("credentials") <= 2, "the credentials sentence once"


PAGES_FOR_AXE = (
    ("call.handler", "/"),
    ("call.handler", "/reports"),
    ("receptionist", "/provider"),
    ("receptionist", "/provider?view=week"),
)


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.mark.skipif(not AXE.exists(), reason="AXE-CORE NOT INSTALLED (make axe): skipped")
def test_accessibility_titles_and_375px(console: str, contexts: Any) -> None:
    # bypass_csp lets the test inject axe-core; the console itself allows no inline script.
    context = contexts(bypass_csp=True, viewport={"width": 375, "height": 800})
    page = context.new_page()
    sign_in(page, console, "supervisor")
    titles: dict[str, str] = {}
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        titles[name] = page.title()
        found = _axe(page)
        if found:
            problems[name] = [f"{v['id']}: {v['help']}" for v in found]
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 375, f"{name} scrolls sideways ({wide} px)"

    for _, path in PAGES_FOR_AXE:
        page.goto(console + path)
        check(path)
    find_services(page, console, "9000000001", "LS1 6AE")
    check("start with an error")
    assert titles["start with an error"].startswith("Error:")
    find_services(page, console, "9000000009", "LS1 6AE")
    check("services")
    page.locator("#services button").first.click()
    check("slots")
    page.get_by_role("button", name="Book this slot").click()
    check("booked")
    page.get_by_role("button", name="Cancel this appointment").click()
    check("cancel")
    assert len(set(titles.values())) == len(titles), titles
    assert not problems, problems
    # The skip link takes focus first and moves it to the main content.
    page.goto(console + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "maincontent"


def test_screenshots_for_the_docs(console: str, contexts: Any, tmp_path: Path) -> None:
    """The journey docs/console pictures: taken on every run (so the pages they show still
    exist), written over docs/console's when UEC_SCREENSHOTS=1."""
    import os

    docs = Path(__file__).resolve().parents[2] / "docs" / "console"
    out = docs if os.environ.get("UEC_SCREENSHOTS") else tmp_path
    page = contexts(viewport={"width": 1000, "height": 900}).new_page()
    page.goto(console + "/")
    page.screenshot(path=str(out / "signin.png"))
    sign_in(page, console, "supervisor")
    find_services(page, console, "9000000009", "WF1 2EB")
    page.screenshot(path=str(out / "services.png"), full_page=True)
    # Each button posts a form: the picture waits for the page it leads to (a screenshot
    # taken mid-navigation fails).
    with page.expect_navigation():
        page.locator("#services button").first.click()
    page.screenshot(path=str(out / "slots.png"))
    with page.expect_navigation():
        page.get_by_role("button", name="Book this slot").click()
    page.screenshot(path=str(out / "booked.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel this appointment").click()
    page.screenshot(path=str(out / "cancel.png"))
    page.goto(console + "/provider")
    page.screenshot(path=str(out / "diary.png"))
    page.goto(console + "/reports")
    page.screenshot(path=str(out / "reports.png"), full_page=True)
    taken = sorted(p.name for p in out.glob("*.png"))
    assert set(taken) >= {p.name for p in docs.glob("*.png")}, taken
    for name in taken:
        assert (out / name).read_bytes().startswith(b"\x89PNG"), name
