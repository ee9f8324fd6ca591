"""`check provider` against our own provider (every failure is a known open finding) and
against deliberately broken ones (each caught by a named check)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.check.conftest import check, failed, signed_target, token_substitute
from tests.check.faulty import Faults, busy_in_free_search, double_booking_provider, slot_stays_busy
from uec_booking.asgi_server import ThreadedServer
from uec_booking.check.model import Outcome
from uec_booking.check.provider import case_ids
from uec_booking.check.wire import Target

# Checks our current main provider fails, each because of a finding another branch fixes.
KNOWN_OPEN_FINDINGS = {
    "CancelAppointment_VersionConflict": "provsec: If-Match naming another version answers 412, not 409",
    "BookAppointment_UnsupportedMediaType": "provsec: application/xml accepted instead of 415",
    "BookAppointment_UnknownElements": "provsec: unknown elements refused (400)",
    "BookAppointment_TwoRank1": "provsec: rank 1 not unique across telecom and contact",
    "CConnect-ApptTest_3": "authpds: interim tokens' aud not checked (interim mode)",
    "CConnect-ApptTest_3-signature": "authpds: interim signature part not required empty",
}


def test_our_provider_signed_mode(sandbox: dict[str, Any]) -> None:
    report = check(signed_target(sandbox, sandbox["provider"]["url"]))
    ran = {c.case_id for c in report.cases}
    assert set(case_ids()) <= ran and "cleanup" in ran
    unexpected = failed(report) - KNOWN_OPEN_FINDINGS.keys()
    assert not unexpected, [c.to_dict() for c in report.cases if c.case_id in unexpected]
    passed = {c.case_id for c in report.cases if c.outcome is Outcome.PASS}
    # The chains that book and cancel really ran: nothing was left booked.
    assert {"BookAppointment_HappyPath", "CancelAppointment_HappyPath", "cleanup"} <= passed
    assert {"BookAppointment_ConcurrentDoubleBooking", "CConnect-ApptTest_4"} <= passed


def test_dry_run_sends_nothing(sandbox: dict[str, Any]) -> None:
    target = signed_target(sandbox, "http://127.0.0.1:9/fhir", dry_run=True)  # nothing listens
    report = check(target)
    assert report.passed
    planned = [c for c in report.cases if c.outcome is Outcome.PLANNED]
    assert len(planned) > 40 and all(c.exchanges and c.exchanges[0].status is None for c in planned)


BROKEN: list[tuple[str, Faults, str]] = [
    (
        "409 instead of 422 for a taken slot",
        Faults(status_map={422: 409}),
        "BookAppointment_SlotAlreadyBooked",
    ),
    (
        "no If-Match handling",
        Faults(ignore_if_match=True),
        "CancelAppointment_If-MatchHeaderMissing",
    ),
    (
        "no If-Match handling",
        Faults(ignore_if_match=True),
        "CancelAppointment_VersionConflictNumeric",
    ),
    ("missing Location header", Faults(drop_headers={"location"}), "BookAppointment_HappyPath"),
    ("no X-Correlation-ID", Faults(drop_headers={"x-correlation-id"}), "BookAppointment_HappyPath"),
    (
        "no ETag/Last-Modified on cancel",
        Faults(drop_headers={"etag", "last-modified"}),
        "CancelAppointment_HappyPath",
    ),
    ("errors without an OperationOutcome", Faults(plain_errors=True), "ReadNonExistentAppointment"),
    ("XML never served", Faults(json_only=True), "Capability_xml_accept"),
    ("403 instead of 401 without a token", Faults(status_map={401: 403}), "CConnect-ApptTest_1"),
    ("a busy Slot in a free search", Faults(rewrite=busy_in_free_search), "CConnect-ApptTest_11"),
    (
        "the Slot not freed by a cancel",
        Faults(rewrite=slot_stays_busy),
        "CancelAppointment_HappyPath",
    ),
]


@pytest.mark.parametrize(
    ("fault", "faults", "caught_by"), BROKEN, ids=[b[2] + ":" + b[0] for b in BROKEN]
)
def test_broken_provider_is_caught(
    broken: Callable[[Faults], Any],
    sandbox: dict[str, Any],
    fault: str,
    faults: Faults,
    caught_by: str,
) -> None:
    with broken(faults) as url:
        report = check(signed_target(sandbox, url), caught_by)
    # Only the named check fails (and, when the fault stops it undoing bookings, the cleanup).
    assert caught_by in failed(report) and failed(report) <= {caught_by, "cleanup"}, fault


def test_no_aud_check_is_caught(
    broken: Callable[[Faults], Any], sandbox: dict[str, Any], tmp_path: Path
) -> None:
    # The proxy swaps whatever token comes in for a valid one: the provider behind it no
    # longer sees a wrong audience, as if it never checked.
    holder: dict[str, str] = {}

    async def substitute() -> str:
        return await token_substitute(sandbox, holder["url"])()

    with broken(Faults(substitute_token=substitute)) as url:
        holder["url"] = url
        report = check(
            signed_target(sandbox, url),
            "CConnect-ApptTest_3",
            "SFFSWithValidParameters_header_json",
        )
    assert failed(report) == {"CConnect-ApptTest_3"}


def test_double_booking_is_caught() -> None:
    with ThreadedServer(double_booking_provider()) as fake:
        report = check(
            Target(base_url=f"{fake.url}/fhir", service="x", auth="none"),
            "BookAppointment_ConcurrentDoubleBooking",
        )
    (result,) = [c for c in report.cases if c.case_id == "BookAppointment_ConcurrentDoubleBooking"]
    assert result.outcome is Outcome.FAIL
    assert result.assertions[-1].observed == "[201, 201]"


def test_our_provider_interim_mode(tmp_path: Path) -> None:
    from tests.check.conftest import seeded_sqlite
    from uec_booking.netutil import free_port
    from uec_booking.provider.app import create_app
    from uec_booking.provider.settings import AuthMode, ProviderSettings

    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    settings = ProviderSettings(
        db_url=seeded_sqlite(tmp_path / "p.sqlite3"),
        public_base_url=base,
        auth_mode=AuthMode.INTERIM,
    )
    with ThreadedServer(create_app(settings), port=port):
        report = check(Target(base_url=base, service="2000100001", auth="interim"))
    unexpected = failed(report) - KNOWN_OPEN_FINDINGS.keys()
    assert not unexpected, [c.to_dict() for c in report.cases if c.case_id in unexpected]
    ran = {c.case_id: c.outcome for c in report.cases}
    # Interim mode forges every negative token itself: nothing is skipped.
    assert not [k for k, v in ran.items() if v is Outcome.SKIP]


def test_the_proxy_without_faults_passes_those_checks(
    broken: Callable[[Faults], Any], sandbox: dict[str, Any]
) -> None:
    # The control: each catch above is the fault's doing, not the proxy's.
    with broken(Faults()) as url:
        report = check(signed_target(sandbox, url), *{b[2] for b in BROKEN}, "CConnect-ApptTest_3")
    assert not failed(report), [c.to_dict() for c in report.cases if c.outcome is Outcome.FAIL]
    assert {c.case_id for c in report.cases if c.outcome is Outcome.PASS} >= {b[2] for b in BROKEN}
