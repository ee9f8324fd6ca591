"""Grading a consumer from what the assurance sandbox recorded: the Care Connect consumer
assurance workbook's cases (C18-C30 per request at the SSP; C1, C6-C8, C10 from the DoS
answers and what the consumer did next)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt

from uec_booking.check.grading_dos import WB, grade_dos, grade_scripted, not_exercised, with_asid
from uec_booking.check.model import CaseResult, Exchange, Report
from uec_booking.check.recorder import Recorded
from uec_booking.check.scripts import SCRIPTS
from uec_booking.fhir.interactions import Interaction, parse_interaction

PAGES = "nhsd-a2si/docs-uec-appts _pages/functional_spec/"
SIGNED_GROUP = {  # signed mode: the group and the scope each interaction needs
    Interaction.READ_METADATA: ("read:metadata", None),
    Interaction.READ_SLOT: ("read:slot", "slot/*.read"),
    Interaction.CREATE_APPOINTMENT: ("create:appointment", "appointment/*.write"),
    Interaction.READ_APPOINTMENT: ("read:appointment", "appointment/*.read"),
    Interaction.UPDATE_APPOINTMENT: ("update:appointment", "appointment/*.write"),
}
INTERIM_SCOPE = {
    Interaction.READ_METADATA: "organization/slot.read",
    Interaction.READ_SLOT: "organization/slot.read",
    Interaction.CREATE_APPOINTMENT: "patient/appointment.write",
    Interaction.READ_APPOINTMENT: "patient/appointment.read",
    Interaction.UPDATE_APPOINTMENT: "patient/appointment.write",
}
SCRIPTED_ASIDS = {s.asid for s in SCRIPTS if s.asid}
INTERIM_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "reason_for_request",
    "requested_scope",
    "requesting_device",
    "requesting_organization",
)


@dataclass
class Expectations:
    provider_base: str
    provider_asid: str
    consumer_asid: str
    no_asid_service: str = "2000100004"  # DoS gives it no booking ASID (C8)
    not_in_sds_service: str = "2000100005"  # its ASID has no NhsAS object in SDS (C10)


@dataclass
class Call:
    """One recorded SSP request, read."""

    rec: Recorded
    url: str  # the provider URL after the SSP prefix
    path: str
    query: list[tuple[str, str]]
    interaction: Interaction | None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.rec.headers.items() if k.lower() == name.lower()), None)


def _interaction(method: str, path: str) -> Interaction | None:
    last = path.rstrip("/").split("/")
    if last[-1] == "metadata":
        return Interaction.READ_METADATA
    if "Slot" in last and method == "GET":
        return Interaction.READ_SLOT
    if last[-1] == "Appointment" and method == "POST":
        return Interaction.CREATE_APPOINTMENT
    if "Appointment" in last and method == "PUT":
        return Interaction.UPDATE_APPOINTMENT
    if "Appointment" in last and method == "GET":
        return Interaction.READ_APPOINTMENT
    return None


def read_call(rec: Recorded) -> Call:
    url = rec.raw_target.lstrip("/")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    return Call(rec, url, parts.path, query, _interaction(rec.method, parts.path))


def _exchange(call: Call) -> Exchange:
    return Exchange(
        call.rec.method,
        call.rec.raw_target,
        dict(call.rec.headers),
        call.rec.body.decode("utf-8", "replace")[:2000] or None,
        call.rec.status,
    )


def _each(result: CaseResult, calls: list[Call], name: str, expected: str, check: Any) -> None:
    """One assertion over every call: the first offender is what the report shows."""
    if not calls:
        not_exercised(result, "no such request was made: drive the journeys listed")
        return
    for call in calls:
        observed = check(call)
        if observed is not True:
            result.exchanges.append(_exchange(call))
            result.expect(name, expected, observed, False)
            return
    result.exchanges.append(_exchange(calls[0]))
    result.expect(name, expected, f"all {len(calls)} requests", True)


def _claims(call: Call) -> dict[str, Any] | str:
    value = call.header("authorization") or ""
    if not value.lower().startswith("bearer "):
        return "no Bearer token"
    try:
        claims: dict[str, Any] = jwt.decode(
            value[7:], options={"verify_signature": False, "verify_aud": False, "verify_exp": False}
        )
    except jwt.PyJWTError as exc:
        return f"not a JWT: {exc}"
    return claims


def _token_ok(call: Call, exp: Expectations) -> object:
    claims = _claims(call)
    if isinstance(claims, str):
        return claims
    if str(claims.get("aud", "")).rstrip("/") != exp.provider_base:
        return f"aud {claims.get('aud')!r}, not {exp.provider_base}"
    assert call.interaction is not None
    if "requested_scope" in claims:  # interim rule
        missing = [c for c in INTERIM_CLAIMS if c not in claims]
        if missing:
            return f"missing claims {missing}"
        if claims["exp"] - claims["iat"] != 300:
            return f"exp - iat = {claims['exp'] - claims['iat']}, not 300"
        want = INTERIM_SCOPE[call.interaction]
        return (
            True
            if claims["requested_scope"] == want
            else f"requested_scope {claims['requested_scope']!r}, not {want}"
        )
    group, scope = SIGNED_GROUP[call.interaction]
    groups = {
        g.removeprefix("urn:nhs:names:services:careconnect:fhir:rest:")
        for g in claims.get("groups", [])
    }
    scopes = set(str(claims.get("scp", "")).split())
    if group not in groups:
        return f"groups {sorted(groups)} lack {group}"
    if scope and scope not in scopes:
        return f"scp {sorted(scopes)} lacks {scope}"
    return True


def _instant(value: str) -> bool:
    try:
        return datetime.fromisoformat(value[2:]).tzinfo is not None
    except ValueError:
        return False


def grade_consumer(
    ssp: list[Recorded],
    dos: list[Recorded],
    exp: Expectations,
    *,
    scripted: list[tuple[str, str, float]] | None = None,
) -> Report:
    report = Report("UEC Appointments consumer assurance", f"sandbox provider {exp.provider_base}")
    calls = [read_call(r) for r in ssp]
    known = [c for c in calls if c.interaction is not None]
    searches = [
        c for c in known if c.interaction is Interaction.READ_SLOT and c.path.endswith("/Slot")
    ]
    searched = {
        v for c in searches for k, v in c.query if k.lower() == "schedule.actor:healthcareservice"
    }

    def case(case_id: str, title: str, source: str) -> CaseResult:
        result = CaseResult(case_id, title, WB + source)
        report.cases.append(result)
        return result

    _each(
        case("CConnect-ApptTest_22", "Requests go to <SSP>/<provider endpoint from SDS>", "C21"),
        calls,
        "SSP prefix + SDS endpoint",
        f"/{exp.provider_base}/…",
        lambda c: True if c.url.startswith(exp.provider_base + "/") else c.rec.raw_target[:120],
    )
    _each(
        case("CConnect-ApptTest_24", "Ssp-From is the consumer's ASID", "C23"),
        known,
        "Ssp-From",
        exp.consumer_asid,
        lambda c: True if c.header("ssp-from") == exp.consumer_asid else c.header("ssp-from"),
    )
    _each(
        case(
            "CConnect-ApptTest_25",
            "Ssp-To is the provider's ASID (from DoS, checked in SDS)",
            "C24; C9, C13, C16",
        ),
        known,
        "Ssp-To",
        exp.provider_asid,
        # A scripted ASID is what DoS said: going on with it is graded by its script's case.
        lambda c: (
            True
            if c.header("ssp-to") in {exp.provider_asid, *SCRIPTED_ASIDS}
            else c.header("ssp-to")
        ),
    )
    _each(
        case("CConnect-ApptTest_26", "Ssp-TraceID is a UUID", "C25"),
        known,
        "Ssp-TraceID",
        "a UUID",
        lambda c: True if _is_uuid(c.header("ssp-traceid")) else c.header("ssp-traceid"),
    )
    _each(
        case("CConnect-ApptTest_27", "Ssp-InteractionID names the interaction", "C26"),
        known,
        "Ssp-InteractionID",
        "the interaction's ID",
        lambda c: (
            True
            if parse_interaction(c.header("ssp-interactionid") or "") is c.interaction
            else f"{c.header('ssp-interactionid')} for {c.rec.method} {c.path}"
        ),
    )
    _each(
        case("UEC-XTI", "X-Request-ID on every request", PAGES.replace(WB, "") + "fs_xti.md"),
        known,
        "X-Request-ID",
        "present",
        lambda c: True if c.header("x-request-id") else "absent",
    )
    for case_id, interaction, what in (
        ("CConnect-ApptTest_16", Interaction.READ_SLOT, "slot search"),
        ("CConnect-ApptTest_17", Interaction.CREATE_APPOINTMENT, "booking"),
        ("CConnect-ApptTest_18", Interaction.UPDATE_APPOINTMENT, "cancellation"),
    ):
        _each(
            case(case_id, f"JWT claims and scope for the {what}", "C18"),
            [c for c in known if c.interaction is interaction],
            "token",
            "claims, aud and scope",
            lambda c: _token_ok(c, exp),
        )
    _each(
        case(
            "CConnect-ApptTest_19", "URL and query correctly encoded (instants parse back)", "C19"
        ),
        searches,
        "start values",
        "instants with offsets",
        lambda c: (
            True
            if all(_instant(v) for k, v in c.query if k == "start")
            else [v for k, v in c.query if k == "start"]
        ),
    )
    _each(
        case("CConnect-ApptTest_21", "Slot URL is <endpoint>/Slot?…", "C20"),
        searches,
        "URL",
        f"{exp.provider_base}/Slot?…",
        lambda c: True if c.path == urlsplit(exp.provider_base).path + "/Slot" else c.path,
    )
    _each(
        case("CConnect-ApptTest_28", "status=free when a status is sent", "C27"),
        searches,
        "status",
        "free (optional)",
        lambda c: True if all(v == "free" for k, v in c.query if k == "status") else c.query,
    )
    _each(
        case("CConnect-ApptTest_29", "start=le… or start=lt… (required)", "C28"),
        searches,
        "upper bound",
        "start=le/lt",
        lambda c: (
            True if any(k == "start" and v[:2] in ("le", "lt") for k, v in c.query) else c.query
        ),
    )
    _each(
        case("CConnect-ApptTest_30", "start=ge…/gt… when a lower bound is sent", "C29"),
        searches,
        "lower bound",
        "start=ge/gt (optional)",
        lambda c: (
            True
            if all(v[:2] in ("le", "lt", "ge", "gt") for k, v in c.query if k == "start")
            else c.query
        ),
    )
    _each(
        case(
            "CConnect-ApptTest_31", "schedule.actor:healthcareservice is the DoS service id", "C30"
        ),
        searches,
        "service",
        "one DoS id with a booking ASID",
        lambda c: True if _service(c) and _service(c) in with_asid(dos) else _service(c),
    )
    grade_dos(report, dos, searched, exp.no_asid_service, exp.not_in_sds_service)
    grade_scripted(
        report,
        dos,
        [(_service(c), c.rec.at) for c in searches],
        [(c.header("ssp-to"), c.rec.at) for c in calls],
        scripted or [],
    )
    return report


def _service(call: Call) -> str | None:
    return next((v for k, v in call.query if k.lower() == "schedule.actor:healthcareservice"), None)


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(value or "")
        return True
    except ValueError:
        return False
