"""Token cases: the provider assurance scripts' P1-P4 and the kit's forbidden chains.

Where the pages disagree the RFC decides (DESIGN "Token errors"): a missing, malformed,
expired or wrongly addressed token is 401 `invalid_token` (the kit's SFFSForbidden says 403
for a bad `aud`, the scripts 401 for everything); a valid token without the scope for the
interaction is 403 `insufficient_scope`.
"""

from __future__ import annotations

import time

from uec_booking.check.model import CaseResult
from uec_booking.check.registry import KIT, PAGES, WORKBOOK, Ctx, bearer_challenge, case, outcome
from uec_booking.check.wire import JSON, CannotForge
from uec_booking.fhir.interactions import Interaction

AUTH = PAGES + "fs_authentication.md; RFC 6750 §3.1"


async def _search_with(ctx: Ctx, result: CaseResult, token: str | None) -> None:
    resp = await ctx.search(result, token=token)
    outcome(result, resp, 401)
    bearer_challenge(result, resp, "invalid_token")


def _needs_auth(ctx: Ctx, result: CaseResult) -> bool:
    if ctx.target.auth == "none":
        result.skip("--auth none: the provider under test was said to run without token checks")
        return False
    return True


@case(
    "CConnect-ApptTest_1",
    "No token → 401 invalid_token (P1)",
    WORKBOOK + "CConnect-ApptTest_1 (P1); " + AUTH,
)
async def no_token(ctx: Ctx, result: CaseResult) -> None:
    if _needs_auth(ctx, result):
        await _search_with(ctx, result, None)


@case(
    "CConnect-ApptTest_1-malformed",
    "Malformed token → 401 invalid_token (P1)",
    WORKBOOK + "CConnect-ApptTest_1 (P1); " + AUTH,
)
async def malformed(ctx: Ctx, result: CaseResult) -> None:
    if _needs_auth(ctx, result):
        await _search_with(ctx, result, "not-a-jwt")


@case(
    "CConnect-ApptTest_1-claims",
    "Token without a mandatory claim (requesting_organization) → 401 (P1)",
    WORKBOOK + "CConnect-ApptTest_1 (P1); " + AUTH,
)
async def missing_claim(ctx: Ctx, result: CaseResult) -> None:
    if not _needs_auth(ctx, result):
        return
    if ctx.target.auth != "interim":
        result.skip("a signed token's claims are the token service's; interim mode only")
        return
    await _search_with(
        ctx, result, ctx.wire.interim(Interaction.READ_SLOT, drop=("requesting_organization",))
    )


@case(
    "CConnect-ApptTest_2",
    "Expired token → 401 invalid_token (P2)",
    WORKBOOK + "CConnect-ApptTest_2 (P2); " + AUTH,
)
async def expired(ctx: Ctx, result: CaseResult) -> None:
    if not _needs_auth(ctx, result):
        return
    try:
        token = ctx.wire.expired(Interaction.READ_SLOT)
    except CannotForge as exc:
        result.skip(str(exc))
        return
    await _search_with(ctx, result, token)


@case(
    "CConnect-ApptTest_2-lifetime",
    "Interim token with exp ≠ iat + 300 → 401",
    PAGES + "fs_authentication.md (interim rule: exp = iat + 300)",
)
async def lifetime(ctx: Ctx, result: CaseResult) -> None:
    if not _needs_auth(ctx, result):
        return
    if ctx.target.auth != "interim":
        result.skip("interim mode only")
        return
    iat = int(time.time())
    await _search_with(
        ctx, result, ctx.wire.interim(Interaction.READ_SLOT, iat=iat, exp=iat + 86400)
    )


@case(
    "CConnect-ApptTest_3",
    "Token for another audience → 401 invalid_token (P3; kit SFFSForbidden aud)",
    WORKBOOK
    + "CConnect-ApptTest_3 (P3); "
    + KIT
    + "EB_SearchForFreeSlots.tstp SFFSWithInvalidJWTaud; "
    + AUTH,
)
async def wrong_audience(ctx: Ctx, result: CaseResult) -> None:
    if not _needs_auth(ctx, result):
        return
    try:
        token = await ctx.wire.token_for_audience(
            Interaction.READ_SLOT, "https://notanendpoint.example/fhir"
        )
    except CannotForge as exc:
        result.skip(str(exc))
        return
    await _search_with(ctx, result, token)


@case(
    "CConnect-ApptTest_3-signature",
    "Interim token with a signature part → 401",
    PAGES + "fs_authentication.md (interim rule: unsigned, empty signature)",
)
async def signature(ctx: Ctx, result: CaseResult) -> None:
    if not _needs_auth(ctx, result):
        return
    if ctx.target.auth != "interim":
        result.skip("interim mode only")
        return
    await _search_with(
        ctx, result, ctx.wire.interim(Interaction.READ_SLOT, signature="c2lnbmF0dXJl")
    )


@case(
    "CConnect-ApptTest_4",
    "Token without the scope for booking → 403 insufficient_scope (P4)",
    WORKBOOK
    + "CConnect-ApptTest_4 (P4); "
    + KIT
    + "EB_SearchForFreeSlots.tstp SFFSWithInvalidJWTScope; "
    + AUTH,
)
async def wrong_scope(ctx: Ctx, result: CaseResult) -> None:
    # The kit searches with a book/cancel token; we book with a slot-read token, which a
    # signed-mode dashboard client also has: no booking is made when the provider is right.
    if not _needs_auth(ctx, result):
        return
    try:
        token = await ctx.wire.limited()
    except CannotForge as exc:
        result.skip(str(exc))
        return
    from uec_booking.check import bodies

    slot = ctx.claim_slot()
    if slot is None:
        result.skip("no free slot left to aim at")
        return
    body = bodies.book(slot)
    import orjson

    resp = await ctx.wire.send(
        result,
        "POST",
        "/Appointment",
        interaction=Interaction.CREATE_APPOINTMENT,
        token=token,
        headers={"Accept": JSON, "Content-Type": JSON},
        body=orjson.dumps(body),
    )
    if resp.status == 201:
        ctx.note_booking(resp)
    else:
        ctx.free.append(slot)
    outcome(result, resp, 403)
    bearer_challenge(result, resp, "insufficient_scope")
