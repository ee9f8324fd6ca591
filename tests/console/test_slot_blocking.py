"""Provider staff block and free slots from the console's diary (issue 16 item 2), over real
sockets against the sandbox: a blocked slot is at once never offered and cannot be booked
(the provider refuses it), the change is audited with the person, call handlers are refused,
and the form passes the Origin and CSRF checks as every other POST."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.console.support import journey_to_slots, post, title

JANE = {"nhs_number": "9000000009", "location_postcode": "LS1 6AE"}
REASON = "Clinician off sick (test)"


def _offered(client: httpx.Client, console: str, token: str) -> tuple[str, list[str]]:
    """A new journey for Jane at the first bookable service: its id and the slots offered."""
    found = journey_to_slots(client, console, token, **JANE)
    return found.id, found.slot_ids


def _diary_row(client: httpx.Client, console: str, slot_id: str) -> str:
    """The diary's row for this slot (today or the next two UK days), as text."""
    today = datetime.now(ZoneInfo("Europe/London")).date()
    for offset in range(3):
        page = client.get(f"{console}/provider?day={today + timedelta(days=offset)}").text
        row = re.search(rf'<tr[^>]*data-slot="{re.escape(slot_id)}".*?</tr>', page, re.S)
        if row:
            return html.unescape(re.sub(r"<[^>]+>", " ", row[0]))
    raise AssertionError(f"slot {slot_id} is in no diary day")


def _cancel(
    client: httpx.Client, console: str, token: str, journey: str, booked: httpx.Response
) -> None:
    """Cancel what the confirmation page booked, leaving the slot free for the other tests."""
    appointment = re.search(r'id="appointment-id">([^<]+)<', booked.text)
    assert appointment
    cancelled = post(
        client,
        console,
        "/cancel",
        csrf_token=token,
        journey=journey,
        appointment_id=appointment[1],
        confirm="yes",
    )
    assert cancelled.status_code == 200, title(cancelled)


def _change(client: httpx.Client, console: str, token: str, **data: str) -> httpx.Response:
    return post(client, console, "/provider/slots", csrf_token=token, **data)


def test_staff_block_and_unblock_a_slot(console: str, sign_in: Any) -> None:
    handler, handler_token = sign_in("call.handler")
    staff, staff_token = sign_in("receptionist")
    old_journey, offered = _offered(handler, console, handler_token)
    slot = offered[0]
    assert " free " in _diary_row(staff, console, slot)

    blocked = _change(staff, console, staff_token, slot_id=slot, action="block", reason=REASON)
    assert blocked.status_code == 200 and "/provider" in str(blocked.url), title(blocked)
    assert f" blocked: {REASON} " in _diary_row(staff, console, slot), "the row says why"
    assert REASON in html.unescape(blocked.text), "the audit trail has the reason"
    trail = html.unescape(blocked.text[blocked.text.index('id="audit"') :])
    assert "admin:block-slot" in trail and "console:" in trail, "audited with the person"

    # At once: a new search does not offer it, and the journey that was offered it cannot
    # book it (the provider refuses: 422, shown as the slot being gone).
    _, offered_now = _offered(handler, console, handler_token)
    assert slot not in offered_now and offered_now
    refused = post(
        handler, console, "/book", csrf_token=handler_token, journey=old_journey, slot_id=slot
    )
    assert refused.status_code == 409 and 'id="slot-taken"' in refused.text, title(refused)

    freed = _change(staff, console, staff_token, slot_id=slot, action="unblock")
    assert freed.status_code == 200, title(freed)
    assert " free " in (row := _diary_row(staff, console, slot)) and REASON not in row
    assert "admin:unblock-slot" in html.unescape(freed.text)
    _, offered_again = _offered(handler, console, handler_token)
    assert slot in offered_again


def test_slot_changes_are_refused_when_they_should_be(console: str, sign_in: Any) -> None:
    handler, handler_token = sign_in("call.handler")
    staff, staff_token = sign_in("receptionist")
    _, offered = _offered(handler, console, handler_token)
    slot = offered[0]

    as_handler = _change(handler, console, handler_token, slot_id=slot, action="block", reason="x")
    assert as_handler.status_code == 403, "call handlers cannot change the diary"
    no_reason = _change(staff, console, staff_token, slot_id=slot, action="block", reason=" ")
    assert no_reason.status_code == 400 and "reason" in title(no_reason).lower()
    unknown = _change(staff, console, staff_token, slot_id="no-such-slot", action="unblock")
    assert unknown.status_code == 404
    nonsense = _change(staff, console, staff_token, slot_id=slot, action="delete")
    assert nonsense.status_code == 400
    cross_site = staff.post(
        console + "/provider/slots",
        data={"csrf_token": staff_token, "slot_id": slot, "action": "block", "reason": "x"},
        headers={"Origin": "http://127.0.0.1:1"},
    )
    no_token = staff.post(
        console + "/provider/slots",
        data={"slot_id": slot, "action": "block", "reason": "x"},
        headers={"Origin": console},
    )
    assert cross_site.status_code == 403 and no_token.status_code == 403
    assert " free " in _diary_row(staff, console, slot), "nothing refused changed anything"

    # A booked slot is never blocked: cancel the appointment first.
    journey, offered = _offered(handler, console, handler_token)
    booked = post(
        handler, console, "/book", csrf_token=handler_token, journey=journey, slot_id=offered[-1]
    )
    assert booked.status_code == 200 and "Appointment booked" in booked.text, title(booked)
    taken = _change(staff, console, staff_token, slot_id=offered[-1], action="block", reason="x")
    assert taken.status_code == 409 and "cancel" in taken.text
    assert " booked " in _diary_row(staff, console, offered[-1])
    _cancel(handler, console, handler_token, journey, booked)


def test_staff_block_and_unblock_a_range_leaving_booked_slots(console: str, sign_in: Any) -> None:
    handler, handler_token = sign_in("call.handler")
    staff, staff_token = sign_in("receptionist")
    journey, offered = _offered(handler, console, handler_token)
    service = offered[0].split("-prac-")[0].removeprefix("sch-")
    tomorrow = datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=1)
    diary = f"{console}/provider?day={tomorrow}"
    slots_page = handler.get(f"{console}/journeys/{journey}/slots?day={tomorrow}").text
    tomorrows = re.findall(r'name="slot_id" type="radio" value="([^"]+)"', slots_page)

    uk = ZoneInfo("Europe/London")
    lo, hi = (
        datetime.combine(tomorrow, time(hour), uk).astimezone(UTC).strftime("%Y%m%d%H%M")
        for hour in (10, 11)
    )

    def in_range(slot_id: str) -> bool:  # 10:00-11:00 UK; ids end in the UTC start, YYYYMMDDHHMM
        return slot_id.startswith(f"sch-{service}-") and lo <= slot_id[-12:] < hi

    chosen = [s for s in tomorrows if in_range(s)]
    assert len(chosen) >= 3, tomorrows
    booked = post(
        handler, console, "/book", csrf_token=handler_token, journey=journey, slot_id=chosen[0]
    )
    assert booked.status_code == 200 and "Appointment booked" in booked.text, title(booked)

    block = {"service_id": service, "from": "10:00", "to": "11:00", "day": str(tomorrow)}
    blocked = post(
        staff,
        console,
        f"/provider/slots?day={tomorrow}",
        csrf_token=staff_token,
        action="block",
        reason=REASON,
        **block,
    )
    assert blocked.status_code == 200, title(blocked)
    said = re.search(r'id="range-result"[^>]*>(.*?)</div>', blocked.text, re.S)
    assert said, "the diary says what the range changed"
    assert f"{len(chosen) - 1} slots changed; 1 booked slot left" in html.unescape(said[1])
    page = staff.get(diary).text
    for slot_id in chosen:
        row = re.search(rf'<tr[^>]*data-slot="{re.escape(slot_id)}".*?</tr>', page, re.S)
        assert row, slot_id
        expected = " booked " if slot_id == chosen[0] else f" blocked: {REASON} "
        assert expected in html.unescape(re.sub(r"<[^>]+>", " ", row[0])), slot_id
    new_journey, _ = _offered(handler, console, handler_token)
    again = handler.get(f"{console}/journeys/{new_journey}/slots?day={tomorrow}").text
    assert not [s for s in re.findall(r'value="(sch-[^"]+)"', again) if in_range(s)]

    freed = post(
        staff,
        console,
        f"/provider/slots?day={tomorrow}",
        csrf_token=staff_token,
        action="unblock",
        **block,
    )
    assert freed.status_code == 200, title(freed)
    assert f"{len(chosen) - 1} slots changed" in html.unescape(freed.text)
    for bad, why in (({"from": "25:00"}, "not times"), ({"to": "09:00"}, "ends before")):
        refused = post(
            staff,
            console,
            f"/provider/slots?day={tomorrow}",
            csrf_token=staff_token,
            action="unblock",
            **{**block, **bad},
        )
        assert refused.status_code == 400 and why in title(refused), title(refused)

    _cancel(handler, console, handler_token, journey, booked)
