"""Dispositions are shown by their NHS Pathways names, as the standard's documentation gives
them (issue 15 item 4); a code outside that list by code and timeframe, never a made-up name."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.console.support import journey_to_slots
from uec_booking.consumer.dispositions import NAMES, TIMEFRAMES, label

DX05 = "Dx05 To contact a Primary Care Service within 2 hours"


def test_named_dispositions_read_as_pathways_names_the_rest_by_timeframe() -> None:
    assert label("Dx05") == DX05
    assert label("Dx12") == "Dx12 Speak to a Primary Care Service within 2 Hours"
    assert (
        label("Dx117") == "Dx117 Speak to a Primary Care Service within 1 hour for Palliative Care"
    )
    assert label("Dx02") == "Dx02: to be seen within 24 hours", "not in the table: no name made up"
    assert set(NAMES) == set(TIMEFRAMES), "every disposition we offer has its name"


def test_console_pages_show_the_disposition_by_name(console: str, sign_in: Any) -> None:
    client, token = sign_in("call.handler")
    start = client.get(console + "/")
    options = [html.unescape(o) for o in re.findall(r"<option[^>]*>([^<]+)</option>", start.text)]
    assert DX05 in options
    assert all(
        option.startswith("Dx") and ": to be seen" not in option
        for option in options
        if option.startswith("Dx")
    ), options
    assert len([o for o in options if o.startswith("Dx")]) == len(TIMEFRAMES), (
        "every one offered, by name"
    )
    found = journey_to_slots(
        client, console, token, nhs_number="9000000009", location_postcode="LS1 6AE"
    )
    assert DX05 in html.unescape(found.services.text)
    assert f"Disposition {DX05}:" in html.unescape(found.slots.text)
