"""Signing in over HTTP (httpx) as the sandbox's people, for the tests that need no browser."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORDS = {
    "call.handler": "sandbox-call-handler",
    "receptionist": "sandbox-receptionist",
    "supervisor": "sandbox-supervisor",
}


def hidden_fields(text: str) -> dict[str, str]:
    return {
        k: html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text)
    }


def title(response: httpx.Response) -> str:
    found = re.search(r"<title>(.*?)</title>", response.text, re.S)
    return html.unescape(found[1]).strip() if found else ""


def signed_in(console: str, username: str) -> tuple[httpx.Client, str]:
    """A client with a console session for this person, and the session's CSRF token."""
    client = httpx.Client(follow_redirects=True, timeout=30)
    form = client.get(console + "/")
    assert "Sign in" in form.text, "an unsigned-in visit goes to the identity provider"
    page = client.post(
        str(form.url).split("?")[0],
        data={**hidden_fields(form.text), "username": username, "password": PASSWORDS[username]},
    )
    assert page.status_code == 200 and str(page.url).startswith(console), page.text[:500]
    return client, csrf(page.text)


def csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, "every signed-in page carries the CSRF token"
    return found[1]


def post(client: httpx.Client, console: str, path: str, **data: Any) -> httpx.Response:
    """A POST as the console's own pages send it (same Origin)."""
    return client.post(console + path, data=data, headers={"Origin": console})


@dataclass(frozen=True)
class Journey:
    """A journey taken as far as the slot list: the pages on the way, and what they offer."""

    id: str
    services: httpx.Response
    slots: httpx.Response

    @property
    def slot_ids(self) -> list[str]:
        return re.findall(r'name="slot_id" type="radio" value="([^"]+)"', self.slots.text)


def journey_to_slots(
    client: httpx.Client,
    console: str,
    token: str,
    *,
    nhs_number: str,
    location_postcode: str,
    disposition: str = "Dx05",
    symptom_group: str = "1010",
) -> Journey:
    """A new journey for the patient, at the first service offered, as far as its slots."""
    services = post(
        client,
        console,
        "/services",
        csrf_token=token,
        nhs_number=nhs_number,
        location_postcode=location_postcode,
        disposition=disposition,
        symptom_group=symptom_group,
    )
    assert services.status_code == 200, title(services)
    journey = re.search(r'name="journey" value="([^"]+)"', services.text)
    service = re.search(r'name="service_id" value="([^"]+)"', services.text)
    assert journey and service
    slots = post(
        client, console, "/slots", csrf_token=token, journey=journey[1], service_id=service[1]
    )
    assert slots.status_code == 200, title(slots)
    return Journey(journey[1], services, slots)
