"""The console over real sockets (httpx) against a running sandbox: sign-in, roles, CSRF and
Origin checks, journey state the form cannot redirect, security headers, and no 500 from any
input (issue 13 items 3 and 17)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.console.support import csrf, hidden_fields, journey_to_slots, post, title


def _journey_at_slots(client: httpx.Client, console: str, token: str) -> tuple[str, list[str]]:
    found = journey_to_slots(
        client, console, token, nhs_number="9000000017", location_postcode="LS1 4HR"
    )
    return found.id, found.slot_ids


def test_unauthenticated_requests_go_to_sign_in(console: str, sign_in: Any) -> None:
    with httpx.Client(timeout=30) as anonymous:
        for path in ("/", "/provider", "/reports?day=2026-01-01"):
            response = anonymous.get(console + path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/signin?next=")
        # A POST without a session does nothing and is sent to sign in too.
        response = anonymous.post(console + "/book", data={"journey": "x", "slot_id": "y"})
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")
        signin = anonymous.get(console + "/signin?next=/provider")
        assert signin.status_code == 302
        target = signin.headers["location"]
        for part in ("code_challenge_method=S256", "code_challenge=", "nonce=", "state="):
            assert part in target, "authorization code flow with PKCE and a nonce"


def test_roles_gate_pages(console: str, sign_in: Any) -> None:
    handler, _ = sign_in("call.handler")
    assert handler.get(console + "/provider").status_code == 403, "no diary for call handlers"
    assert handler.get(console + "/reports").status_code == 200
    staff, token = sign_in("receptionist")
    assert staff.get(console + "/provider").status_code == 200
    assert staff.get(console + "/reports").status_code == 200
    assert str(staff.get(console + "/").url).endswith("/provider"), "staff land on the diary"
    booking = post(staff, console, "/services", csrf_token=token, nhs_number="9000000009")
    assert booking.status_code == 403, "provider staff do not book"


def test_a_cross_site_or_tokenless_post_is_refused(console: str, sign_in: Any) -> None:
    client, token = sign_in("call.handler")
    form = dict(nhs_number="9000000009", location_postcode="LS1 6AE", symptom_group="1010")
    other_site = client.post(
        console + "/services",
        data={**form, "csrf_token": token},
        headers={"Origin": "http://127.0.0.1:1"},
    )
    assert other_site.status_code == 403 and "not sent from the console" in other_site.text
    no_origin = client.post(console + "/services", data={**form, "csrf_token": token})
    assert no_origin.status_code == 403, "neither Origin nor Referer: refused"
    no_token = post(client, console, "/services", **form)
    assert no_token.status_code == 403 and "expired" in no_token.text
    wrong_token = post(client, console, "/services", **form, csrf_token="x" * 43)
    assert wrong_token.status_code == 403
    assert post(client, console, "/services", **form, csrf_token=token).status_code == 200
    signout_elsewhere = client.post(
        console + "/signout", data={"csrf_token": token}, headers={"Origin": "http://evil"}
    )
    assert signout_elsewhere.status_code == 403


def test_tampered_fields_cannot_redirect_a_booking(console: str, sign_in: Any) -> None:
    client, token = sign_in("call.handler")
    journey, slots = _journey_at_slots(client, console, token)
    # The old console trusted these hidden fields; now they are ignored.
    tampered = post(
        client,
        console,
        "/book",
        csrf_token=token,
        journey=journey,
        slot_id="not-offered",
        endpoint="http://127.0.0.1:1/fhir",
        asid="999999999999",
        start="2020-01-01T00:00:00Z",
    )
    assert tampered.status_code == 400 and "Choose a slot" in tampered.text
    not_offered = post(
        client, console, "/slots", csrf_token=token, journey=journey, service_id="2000100004"
    )
    assert not_offered.status_code == 400, "a referral-only service cannot be chosen by hand"
    # Someone else's journey is not found, even for a person who may book.
    other, other_token = sign_in("supervisor")
    theirs = post(
        other, console, "/book", csrf_token=other_token, journey=journey, slot_id=slots[0]
    )
    assert theirs.status_code == 404
    booked = post(
        client,
        console,
        "/book",
        csrf_token=token,
        journey=journey,
        slot_id=slots[1],
        endpoint="http://127.0.0.1:1/fhir",
    )
    assert booked.status_code == 200 and "Appointment booked" in booked.text
    appointment = re.search(r'id="appointment-id">([^<]+)<', booked.text)
    assert appointment
    forged = post(
        client, console, "/cancel", csrf_token=token, journey=journey, appointment_id="forged"
    )
    assert forged.status_code == 400, "only appointments booked in this call can be cancelled"
    assert hidden_fields(booked.text)["appointment_id"] == appointment[1]


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        (
            "POST",
            "/services",
            {"nhs_number": "9000000009", "location_postcode": "LS1 6AE", "symptom_group": "abc"},
        ),
        (
            "POST",
            "/book",
            {"slot_id": "x", "start": "garbage", "end": "garbage"},
        ),
        ("POST", "/services", {}),
        (
            "POST",
            "/services",
            {
                "nhs_number": "9000000009",
                "location_postcode": "LS1 6AE",
                "birth_date": "31/02/1990",
            },
        ),
        ("POST", "/book", {}),
        ("POST", "/rebook", {}),
        ("POST", "/cancel", {}),
        ("POST", "/slots", {"journey": "nope"}),
        ("GET", "/journeys/nope/slots", {}),
        ("GET", "/provider?day=9999-12-31", {}),
        ("GET", "/provider?day=garbage&view=week", {}),
        ("GET", "/reports?day=9999-12-31", {}),
        ("GET", "/reports?day=2026-01-01&days=-3", {}),
        ("GET", "/reports?days=many", {}),
        ("GET", "/no-such-page", {}),
    ],
)
def test_bad_input_gets_a_clear_4xx_page(
    console: str, sign_in: Any, method: str, path: str, data: dict[str, Any]
) -> None:
    client, token = sign_in("supervisor")
    if method == "POST":
        response = post(client, console, path, csrf_token=token, **data)
    else:
        response = client.get(console + path)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[-500:])
    assert title(response).startswith("Error:"), title(response)
    assert "Traceback" not in response.text


def test_security_headers_and_cookie(console: str, sign_in: Any) -> None:
    client, _ = sign_in("supervisor")
    page = client.get(console + "/")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "<script>" not in page.text, "no inline script"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    with httpx.Client(timeout=30) as anonymous:
        cookie = anonymous.get(console + "/signin").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie, "plain http on loopback: Secure would lose the cookie"
    assert csrf(page.text)


def test_secure_cookie_when_served_over_https() -> None:
    from uec_booking.asgi_server import ThreadedServer
    from uec_booking.console.app import Console, create_app
    from uec_booking.console.settings import ConsoleSettings
    from uec_booking.consumer.config import ConsumerConfig

    settings = ConsoleSettings(
        oidc_issuer="https://cis2.invalid",
        oidc_client_id="c",
        oidc_client_secret="s",
        public_url="https://console.example",
    )
    config = ConsumerConfig(
        pds_url="https://pds.invalid",
        dos_wsdl="https://dos.invalid/?wsdl",
        dos_username="u",
        dos_password="p",
        sds_url="ldap://127.0.0.1:1",
        consumer_asid="200000000201",
        auth_mode="interim",
    )
    app = create_app(Console(config, None, settings))
    server = ThreadedServer(app, host="127.0.0.1").start()
    try:
        response = httpx.get(server.url + "/no-such-page", timeout=30)
    finally:
        server.stop()
    assert response.status_code == 404
    assert "; secure" in response.headers["set-cookie"].lower()
