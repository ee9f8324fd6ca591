"""The consumer workflow against the real services (in-process sandbox on loopback): the
failure modes the standard lists, the 422 path, token refresh, and the SSP path landing in
the provider's store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uec_booking.consumer import events
from uec_booking.consumer.auth import ClientCredentialsTokens
from uec_booking.consumer.config import from_manifest, load_config
from uec_booking.consumer.request import BookingRequest, BookingResult
from uec_booking.consumer.wiring import build_workflow
from uec_booking.consumer.workflow import BookingWorkflow
from uec_booking.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with Sandbox(days=2) as manifest:
        yield manifest


@pytest.fixture
def workflow(sandbox: dict[str, Any]) -> BookingWorkflow:
    return build_workflow(load_config(**from_manifest(sandbox)))


def run(
    workflow: BookingWorkflow, **request: Any
) -> tuple[BookingResult, list[events.WorkflowEvent]]:
    seen: list[events.WorkflowEvent] = []
    now = datetime.now(UTC)
    request.setdefault("earliest", now)
    request.setdefault("latest", now + timedelta(hours=48))
    result = asyncio.run(workflow.run(BookingRequest(**request), on_event=seen.append))
    return result, seen


def kinds(seen: list[events.WorkflowEvent]) -> list[str]:
    return [type(e).__name__ for e in seen]


def test_happy_path_event_sequence(workflow: BookingWorkflow) -> None:
    result, seen = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    assert result.appointment is not None and result.error is None
    assert kinds(seen) == [
        "PatientVerified",
        "ServicesFound",
        "ServiceDetails",
        "EndpointResolved",
        "TokenObtained",
        "SlotsFound",
        "Booked",
    ]


def test_slot_taken_meanwhile_books_the_next(workflow: BookingWorkflow) -> None:
    first, _ = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    assert first.slot is not None and first.appointment is not None
    second, seen = run(
        workflow, nhs_number="9000000017", postcode="LS1 4HR", preferred_slot=first.slot
    )
    assert "SlotGone" in kinds(seen) and second.appointment is not None
    assert second.appointment.slot_id != first.appointment.slot_id


def test_service_without_booking_asid_is_referral_only(workflow: BookingWorkflow) -> None:
    # Bradford: the nearest service (walk-in centre) has no booking endpoint in DoS.
    result, seen = run(workflow, nhs_number="9000000025", postcode="BD1 1HY")
    skipped = [e for e in seen if isinstance(e, events.ServiceNotBookable)]
    assert skipped and skipped[0].service_id == "2000100004" and skipped[0].referral_allowed
    assert [s.id for s in result.referral_only][:1] == ["2000100004"]
    assert (
        result.appointment is not None
        and result.service is not None
        and result.service.id != "2000100004"
    )


def test_a_patient_away_from_home_is_verified_at_home_and_searched_where_they_are(
    workflow: BookingWorkflow,
) -> None:
    """A Leeds patient (LS1 6AE on PDS) calling from Wakefield: PDS checks the home
    postcode, DoS searches from WF1 2EB; the home postcode as the location finds Leeds."""
    away, seen = run(
        workflow, nhs_number="9000000009", postcode="LS1 6AE", location_postcode="WF1 2EB"
    )
    home, seen_home = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    assert away.appointment is not None and home.appointment is not None
    (found,) = [e for e in seen if isinstance(e, events.ServicesFound)]
    (found_home,) = [e for e in seen_home if isinstance(e, events.ServicesFound)]
    assert found.services[0][0] != found_home.services[0][0], (found, found_home)
    assert "Wakefield" in found.nearest and "Leeds" in found_home.nearest
    # Where the patient is now is not a demographic: given as the PDS postcode, it fails.
    refused, _ = run(workflow, nhs_number="9000000009", postcode="WF1 2EB")
    assert refused.appointment is None and refused.error and "postcode" in refused.error.lower()


def test_asid_missing_from_sds_is_skipped(workflow: BookingWorkflow) -> None:
    # Wakefield: DoS gives a booking ASID that SDS does not know.
    result, seen = run(workflow, nhs_number="9000000041", postcode="WF1 2EB")
    skipped = [e for e in seen if isinstance(e, events.ServiceNotBookable)]
    assert skipped and skipped[0].service_id == "2000100005" and "SDS" in skipped[0].reason
    assert (
        result.appointment is not None
        and result.service is not None
        and result.service.id != "2000100005"
    )


def test_booking_only_service_without_endpoint_is_not_offered(
    workflow: BookingWorkflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make the OOH GP (requirebooking) look unbookable: it must not become a referral.
    real = workflow.dos.service_details_by_id

    async def no_endpoints(service_id: str) -> Any:
        details = await real(service_id)
        if service_id == "2000100002":
            return type(details)(details.id, details.name, details.phone, [])
        return details

    monkeypatch.setattr(workflow.dos, "service_details_by_id", no_endpoints)
    result, seen = run(
        workflow,
        nhs_number="9000000017",
        postcode="LS1 4HR",
        disposition="Dx13",
        symptom_group=1050,
    )
    ooh = [
        e for e in seen if isinstance(e, events.ServiceNotBookable) and e.service_id == "2000100002"
    ]
    assert ooh and not ooh[0].referral_allowed
    assert "2000100002" not in [s.id for s in result.referral_only]


def test_unknown_patient_stops_before_anything_else(workflow: BookingWorkflow) -> None:
    result, seen = run(workflow, nhs_number="9000000033")
    assert kinds(seen) == ["StepFailed"] and result.appointment is None


def test_expired_token_is_refreshed(workflow: BookingWorkflow, sandbox: dict[str, Any]) -> None:
    tokens = workflow.provider.tokens
    assert isinstance(tokens, ClientCredentialsTokens)
    endpoint = sandbox["provider"]["url"]
    asyncio.run(tokens.token(audience=endpoint))
    before = tokens.requests
    # A kept token the provider now refuses (as after expiry): the client must get a new one.
    tokens.cache.put(endpoint, "eyJhbGciOiJSUzI1NiIsImtpZCI6Im9sZCJ9.e30.c2ln", lifetime=3600)
    result, _ = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    assert result.appointment is not None
    assert tokens.requests == before + 1


def test_cancel_through_the_ssp_frees_the_slot(
    workflow: BookingWorkflow, sandbox: dict[str, Any]
) -> None:
    booked, _ = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    assert booked.appointment is not None and booked.provider_url and booked.provider_asid
    cancelled = asyncio.run(
        workflow.provider.cancel(
            endpoint=booked.provider_url,
            to_asid=booked.provider_asid,
            appointment_id=booked.appointment.id,
            trace_id=booked.trace_id,
        )
    )
    assert cancelled["status"] == "cancelled" and cancelled["meta"]["versionId"] == "2"
    now = datetime.now(UTC)
    free = asyncio.run(
        workflow.provider.search_free_slots(
            endpoint=booked.provider_url,
            to_asid=booked.provider_asid,
            healthcare_service_id="2000100001",
            start=now,
            end=now + timedelta(hours=48),
            trace_id=booked.trace_id,
        )
    )
    assert booked.appointment.slot_id in {s.id for s in free}


def test_bad_tokens_through_the_ssp_are_refused_and_write_nothing(sandbox: dict[str, Any]) -> None:
    import time
    import uuid

    import httpx
    import jwt

    from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens
    from uec_booking.spine.auth_keys import SigningKey
    from uec_booking.tls import client_context
    from uec_booking.tls_http import tls_transport

    tls = sandbox["tls"]  # the sandbox CA, and the consumer's client certificate (TLS-MA)
    context = client_context(
        ca_file=tls["ca"], cert_file=tls["consumer_cert"], key_file=tls["consumer_key"]
    )
    http = httpx.Client(verify=context, timeout=30)
    base, ssp, auth = sandbox["provider"]["url"], sandbox["ssp"]["url"], sandbox["auth"]
    headers = {
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-From": auth["asid"],
        "Ssp-To": sandbox["provider"]["asid"],
        "Content-Type": "application/fhir+json",
    }
    search = f"{ssp}/{base}/Slot?status=free&start=le{(datetime.now(UTC) + timedelta(hours=24)).isoformat()}"
    read_slot = "urn:nhs:names:services:careconnect:fhir:rest:read:slot"
    create = "urn:nhs:names:services:careconnect:fhir:rest:create:appointment"
    good = asyncio.run(
        ClientCredentialsTokens(
            token_url=auth["token_url"],
            client_id=auth["client_id"],
            client_secret=auth["client_secret"],
            transport=tls_transport(context, service="auth"),
        ).token(audience=base)
    )
    found = http.get(
        search,
        headers={**headers, "Ssp-InteractionID": read_slot, "Authorization": f"Bearer {good}"},
    )
    slot = found.json()["entry"][0]["resource"]
    now = int(time.time())
    claims = {
        "iss": auth["issuer"],
        "aud": base,
        "iat": now - 7200,
        "nbf": now - 7200,
        "exp": now - 3600,
        "asid": auth["asid"],
        "groups": ["create:appointment"],
        "scp": "appointment/*.write",
    }
    expired = jwt.encode(
        claims, SigningKey.generate().private_key, algorithm="RS256", headers={"kid": "gone"}
    )
    head, _, sig = good.split(".")
    unsigned = asyncio.run(
        InterimTokens(consumer_ods="X", consumer_name="x", device_id="d").token(audience=base)
    )
    dashboard = sandbox_dashboard_token(auth, base, context)
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": slot["start"],
        "end": slot["end"],
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [
            {
                "actor": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/nhs-number",
                        "value": "9000000009",
                    }
                },
                "status": "accepted",
            }
        ],
    }
    for token, status in (
        (expired, 401),
        (f"{head}.e30.{sig}", 401),
        (unsigned, 401),
        ("", 401),
        (dashboard, 403),
    ):
        response = http.post(
            f"{ssp}/{base}/Appointment",
            json=body,
            headers={
                **headers,
                "Ssp-InteractionID": create,
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        assert response.status_code == status, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        if status == 401:
            assert "www-authenticate" in response.headers
    again = http.get(
        f"{ssp}/{base}/Slot/{slot['id']}",
        headers={**headers, "Ssp-InteractionID": read_slot, "Authorization": f"Bearer {good}"},
    )
    http.close()
    assert again.json()["status"] == "free", "no refused booking wrote anything"


def sandbox_dashboard_token(auth: dict[str, Any], base: str, context: Any) -> str:
    from uec_booking import sample_data
    from uec_booking.consumer.auth import ClientCredentialsTokens
    from uec_booking.tls_http import tls_transport

    dash = sample_data.load()["consumer_systems"][1]
    source = ClientCredentialsTokens(
        token_url=auth["token_url"],
        client_id=dash["client_id"],
        client_secret=dash["client_secret"],
        transport=tls_transport(context, service="auth"),
    )
    return asyncio.run(source.token(audience=base))


def test_sds_fhir_lookup_books_end_to_end(sandbox: dict[str, Any]) -> None:
    """UEC_SDS_MODE=fhir: the endpoint comes from the SDS FHIR API (/Device, /Endpoint)."""
    from uec_booking.consumer.sds_fhir import SdsFhirClient

    config = load_config(**from_manifest(sandbox), sds_mode="fhir", journal_db="")
    workflow = build_workflow(config)
    assert isinstance(workflow.sds, SdsFhirClient)
    result, _seen = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    assert result.appointment is not None, result.error
    assert result.provider_url == sandbox["provider"]["url"]


@pytest.mark.parametrize("kind", ["untrusted", "wrong host", "expired"])
def test_wrong_server_certificate_is_one_clear_sentence(
    sandbox: dict[str, Any], tmp_path: Any, kind: str
) -> None:
    """The consumer refuses a PDS whose certificate it cannot trust, and says why."""
    import gc
    import warnings
    from pathlib import Path

    from starlette.applications import Starlette

    from uec_booking.asgi_server import ThreadedServer
    from uec_booking.consumer.errors import ServiceUnreachable
    from uec_booking.consumer.pds import PdsClient
    from uec_booking.tls import CertificateAuthority, ServerTLS
    from uec_booking.tls_http import tls_transport

    ca = CertificateAuthority.load(Path(sandbox["tls"]["dir"]))
    if kind == "untrusted":
        cred = CertificateAuthority.create(tmp_path / "other").issue("pds", "pds.test")
    elif kind == "wrong host":
        cred = ca.issue("pds-elsewhere", "pds.elsewhere.test", hosts=("elsewhere.test",))
    else:
        cred = ca.issue("pds-expired", "pds.sandbox.nhs.uk", expired=True)
    config = load_config(**from_manifest(sandbox))
    with ThreadedServer(Starlette(), tls=ServerTLS(cred.cert, cred.key)) as fake:
        pds = PdsClient(
            base_url=fake.url, transport=tls_transport(config.tls_context("PDS"), service="PDS")
        )
        with pytest.raises(ServiceUnreachable) as error:
            asyncio.run(pds.verify(nhs_number="9000000009"))
    # The fake's loop ends with the refused handshake's transport open (uvloop reports it
    # when the loop is collected): collect it here, where that is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
    words = {"untrusted": "untrusted", "wrong host": "wrong host", "expired": "expired"}
    assert "TLS to PDS failed" in str(error.value) and words[kind] in str(error.value)


def test_two_booking_asids_are_flagged_not_booked(
    workflow: BookingWorkflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uec_booking.consumer.models import DosEndpoint

    real = workflow.dos.service_details_by_id

    async def two_asids(service_id: str) -> Any:
        details = await real(service_id)
        if service_id == "2000100001":
            extra = DosEndpoint("http", "FHIR", "Scheduling", "ASID:200000000102")
            return type(details)(
                details.id, details.name, details.phone, [*details.endpoints, extra]
            )
        return details

    monkeypatch.setattr(workflow.dos, "service_details_by_id", two_asids)
    result, seen = run(workflow, nhs_number="9000000009", postcode="LS1 6AE")
    flagged = [
        e for e in seen if isinstance(e, events.ServiceNotBookable) and e.service_id == "2000100001"
    ]
    assert flagged and "ambiguous" in flagged[0].reason
    assert result.service is None or result.service.id != "2000100001"
