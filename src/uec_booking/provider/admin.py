"""Slot management by the provider's own staff: block (`busy-unavailable`, with a reason)
and unblock single slots and ranges, from the CLI (`uec-booking provider-slots`) or the admin
API `PUT /fhir/Slot/<id>`.

The admin API is authorised by the `provider-admin` scope in a signed token whose `ods` is
the provider's own organisation: consumer systems are never given that scope, and an
unsigned (interim) token never passes. Every change is audited with who made it and why,
and bumps the slot views' epochs in its own transaction (`store/slot_changes.py`), so the
next search sees it. A booked slot is never blocked: cancel its Appointment first.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from uec_booking.fhir.errors import (
    BadRequest,
    Conflict,
    FhirError,
    Forbidden,
    NotFound,
    Unprocessable,
)
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_response
from uec_booking.provider import deps
from uec_booking.provider.representation import etag, instant, slot_resource
from uec_booking.provider.security import TokenAuth, header_provenance
from uec_booking.provider.store import Store, audit, slots
from uec_booking.provider.store.appointments import Provenance
from uec_booking.provider.store.slot_changes import BLOCKED, FREE, SlotState, change, slots_from

ADMIN_SCOPE = "provider-admin"
BLOCK = "admin:block-slot"
UNBLOCK = "admin:unblock-slot"
UPDATE = "admin:update-slot"  # a refused PUT /fhir/Slot/<id>


@dataclass
class BlockReport:
    changed: list[str] = field(default_factory=list)
    # Booked (or otherwise not in the state asked for) slots, left alone.
    skipped: list[SlotState] = field(default_factory=list)


def cli_provenance() -> Provenance:
    """Who runs the CLI: their login name, for the audit trail."""
    return Provenance(client_id=f"cli:{getpass.getuser()}"[:128])


def _with_reason(extra: dict[str, Any] | None, reason: str | None) -> dict[str, Any] | None:
    """The reason is the Slot's `comment`; unblocking takes it away."""
    out = dict(extra or {})
    out.pop("comment", None)
    if reason:
        out["comment"] = reason
    return out or None


async def set_blocked(
    store: Store,
    *,
    blocked: bool,
    reason: str | None,
    who: Provenance,
    slot_ids: list[str] | None = None,
    service_id: str | None = None,
    schedule_id: str | None = None,
    start_ge: datetime | None = None,
    start_lt: datetime | None = None,
) -> BlockReport:
    """Block (or unblock) the slots named, or those of a service/schedule starting in
    [start_ge, start_lt). One transaction; each slot moves only from free (or blocked)."""
    if not (slot_ids or service_id or schedule_id):
        raise BadRequest("Name the slots: slot ids, or a service or schedule with a time range")
    if blocked and not (reason and reason.strip()):
        raise BadRequest("Blocking a slot needs a reason")
    source, target = (FREE, BLOCKED) if blocked else (BLOCKED, FREE)
    report = BlockReport()
    async with store.write() as session:
        found = await slots_from(
            session,
            slot_ids=slot_ids or (),
            service_ids=[service_id] if service_id else (),
            schedule_ids=[schedule_id] if schedule_id else (),
            start_ge=start_ge,
            start_lt=start_lt,
        )
        missing = set(slot_ids or ()) - {s.id for s in found}
        if missing:
            raise NotFound(f"No Slot with id '{sorted(missing)[0]}'")
        for slot in found:
            if slot.status == target:
                continue
            version = await change(
                session,
                slot,
                expect=(source,),
                status=target,
                extra=_with_reason(slot.extra, reason if blocked else None),
            )
            if version is None:
                report.skipped.append(slot)
                continue
            report.changed.append(slot.id)
            await audit.record(
                session,
                interaction=BLOCK if blocked else UNBLOCK,
                status_code=200,
                who=who,
                resource_id=slot.id,
                detail=(reason or "unblocked")[:2000],
            )
    return report


async def _audit_refusal(request: Request, who: Provenance, error: FhirError) -> None:
    """Refused attempts are audited too, with whatever identity the request claims."""
    async with deps.store(request).write() as session:
        await audit.record(
            session,
            interaction=UPDATE,
            status_code=error.status,
            who=who,
            resource_id=request.path_params.get("slot_id"),
            detail=error.diagnostics,
        )


async def _authorise_admin(request: Request) -> Provenance:
    try:
        return await _check_admin(request)
    except FhirError as error:
        await _audit_refusal(request, header_provenance(request), error)
        raise


async def _check_admin(request: Request) -> Provenance:
    """Only provider staff: the `provider-admin` scope, signed, from the provider's ODS."""
    authorise = request.app.state.authorise
    if not isinstance(authorise, TokenAuth):  # --no-auth: local development
        request.state.provenance = header_provenance(request)
        return request.state.provenance  # type: ignore[no-any-return]
    caller = await authorise.verifier.verify(request.headers.get("authorization"))
    ods = deps.settings(request).ods_code
    if caller.mode != "signed" or ADMIN_SCOPE not in caller.scopes or caller.ods != ods:
        raise Forbidden(
            f"Slot changes need a signed token with the {ADMIN_SCOPE} scope for {ods}",
            scope=ADMIN_SCOPE,
        )
    who = header_provenance(request, client_id=caller.client_id, asid=caller.asid, ods=ods)
    request.state.provenance = who  # for the request log, as `deps.require` does
    return who


router = APIRouter()


@router.put("/Slot/{slot_id}")
async def update_slot(
    slot_id: str,
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(_authorise_admin),
) -> Response:
    """Block (`status: busy-unavailable`, reason in `comment`) or free a slot. Only status
    and comment may change; `If-Match`, when sent, must name the current version."""
    try:
        return await _update_slot(slot_id, request, fmt, who)
    except FhirError as error:
        await _audit_refusal(request, who, error)
        raise


async def _update_slot(slot_id: str, request: Request, fmt: Format, who: Provenance) -> Response:
    incoming = (await deps.parse_body(request, "Slot")).data
    if incoming.get("id") != slot_id:
        raise BadRequest(
            f"The Slot's id ({incoming.get('id')!r}) must match the URL ('{slot_id}')",
            expression="Slot.id",
        )
    status = incoming.get("status")
    if status not in (FREE, BLOCKED):
        raise Unprocessable(
            f"A Slot's status can be set to '{FREE}' or '{BLOCKED}' only, not {status!r}",
            expression="Slot.status",
        )
    store = deps.store(request)
    async with store.read() as session:
        row = await slots.get(session, slot_id)
    if row is None:
        raise NotFound(f"No Slot with id '{slot_id}'")
    if_match = request.headers.get("if-match")
    if if_match and if_match.strip().removeprefix("W/").strip('"') != str(row.version_id):
        raise Conflict(f"If-Match names another version; the Slot is at {row.version_id}")
    for name, value in (("start", row.start), ("end", row.end)):
        sent = incoming.get(name)
        if sent and _instant(sent) != instant(value):
            raise Unprocessable(
                f"Only status and comment may change: not {name}", expression=f"Slot.{name}"
            )
    if row.status not in (FREE, BLOCKED):
        raise Unprocessable(
            f"Slot '{slot_id}' is {row.status}: a booked slot is freed by cancelling its Appointment",
            expression="Slot.status",
        )
    report = await set_blocked(
        store,
        blocked=status == BLOCKED,
        reason=incoming.get("comment")
        or ("blocked by provider staff" if status == BLOCKED else None),
        who=who,
        slot_ids=[slot_id],
    )
    if report.skipped:
        raise Unprocessable(f"Slot '{slot_id}' was booked meanwhile", expression="Slot.status")
    async with store.read() as session:
        row = await slots.get(session, slot_id)
    assert row is not None  # slots are never deleted
    resource = slot_resource(row)
    headers = {
        "ETag": etag(row.version_id),
        "Content-Location": f"{deps.base_url(request)}/Slot/{slot_id}/_history/{row.version_id}",
    }
    return fhir_response(request, resource, headers=headers, fmt=fmt)


def _instant(value: str) -> str:
    try:
        return instant(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value
