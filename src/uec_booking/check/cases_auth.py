"""Token cases: the provider assurance scripts' P1-P4 and the kit's forbidden chains.

Where the pages disagree the RFC decides (DESIGN "Token errors"): a missing, malformed,
expired or wrongly addressed token is 401 `invalid_token` (the kit's SFFSForbidden says 403
for a bad `aud`, the scripts 401 for everything); a valid token without the scope for the
interaction is 403 `insufficient_scope`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable

from uec_booking.check import bodies
from uec_booking.check.model import CaseResult
from uec_booking.check.registry import (
    INTERIM,
    KIT,
    PAGES,
    TOKEN_CHECKS,
    WORKBOOK,
    Ctx,
    Precondition,
    bearer_challenge,
    case,
    outcome,
    post,
)
from uec_booking.fhir.interactions import Interaction

AUTH = PAGES + "fs_authentication.md; RFC 6750 §3.1"


TokenFor = Callable[[Ctx], str | Awaitable[str] | None]
P1 = WORKBOOK + "CConnect-ApptTest_1 (P1); " + AUTH


def _refused_token(
    case_id: str,
    title: str,
    source: str,
    token: TokenFor,
    *,
    requires: tuple[Precondition, ...] = (TOKEN_CHECKS,),
) -> None:
    """A Slot search with a bad `token` (None: none at all) → 401 and the RFC 6750 challenge
    `invalid_token`. A token the checker cannot forge here (CannotForge) skips the case."""

    @case(case_id, title, source, requires=requires)
    async def run(ctx: Ctx, result: CaseResult) -> None:
        bad = token(ctx)
        resp = await ctx.search(result, token=await bad if inspect.isawaitable(bad) else bad)
        outcome(result, resp, 401)
        bearer_challenge(result, resp, "invalid_token")


def _long_lived(ctx: Ctx) -> str:
    iat = int(time.time())
    return ctx.wire.interim(Interaction.READ_SLOT, iat=iat, exp=iat + 86400)


_refused_token("CConnect-ApptTest_1", "No token → 401 invalid_token (P1)", P1, lambda ctx: None)
_refused_token(
    "CConnect-ApptTest_1-malformed",
    "Malformed token → 401 invalid_token (P1)",
    P1,
    lambda ctx: "not-a-jwt",
)
_refused_token(
    "CConnect-ApptTest_1-claims",
    "Token without a mandatory claim (requesting_organization) → 401 (P1)",
    P1,
    lambda ctx: ctx.wire.interim(Interaction.READ_SLOT, drop=("requesting_organization",)),
    requires=(
        TOKEN_CHECKS,
        INTERIM.because("a signed token's claims are the token service's; interim mode only"),
    ),
)
_refused_token(
    "CConnect-ApptTest_2",
    "Expired token → 401 invalid_token (P2)",
    WORKBOOK + "CConnect-ApptTest_2 (P2); " + AUTH,
    lambda ctx: ctx.wire.expired(Interaction.READ_SLOT),
)
_refused_token(
    "CConnect-ApptTest_2-lifetime",
    "Interim token with exp ≠ iat + 300 → 401",
    PAGES + "fs_authentication.md (interim rule: exp = iat + 300)",
    _long_lived,
    requires=(TOKEN_CHECKS, INTERIM),
)
_refused_token(
    "CConnect-ApptTest_3",
    "Token for another audience → 401 invalid_token (P3; kit SFFSForbidden aud)",
    WORKBOOK
    + "CConnect-ApptTest_3 (P3); "
    + KIT
    + "EB_SearchForFreeSlots.tstp SFFSWithInvalidJWTaud; "
    + AUTH,
    lambda ctx: ctx.wire.token_for_audience(
        Interaction.READ_SLOT, "https://notanendpoint.example/fhir"
    ),
)
_refused_token(
    "CConnect-ApptTest_3-signature",
    "Interim token with a signature part → 401",
    PAGES + "fs_authentication.md (interim rule: unsigned, empty signature)",
    lambda ctx: ctx.wire.interim(Interaction.READ_SLOT, signature="c2lnbmF0dXJl"),
    requires=(TOKEN_CHECKS, INTERIM),
)


@case(
    "CConnect-ApptTest_4",
    "Token without the scope for booking → 403 insufficient_scope (P4)",
    WORKBOOK
    + "CConnect-ApptTest_4 (P4); "
    + KIT
    + "EB_SearchForFreeSlots.tstp SFFSWithInvalidJWTScope; "
    + AUTH,
    requires=(TOKEN_CHECKS,),
)
async def wrong_scope(ctx: Ctx, result: CaseResult) -> None:
    # The kit searches with a book/cancel token; we book with a slot-read token, which a
    # signed-mode dashboard client also has: no booking is made when the provider is right.
    # The token first: a Slot is claimed only once there is a token to aim at it with.
    token = await ctx.wire.limited()
    slot = ctx.claim_slot()
    if slot is None:
        result.skip("no free slot left to aim at")
        return
    resp = await post(ctx, result, bodies.book(slot), token=token)
    ctx.release_unless_booked(slot, resp)
    outcome(result, resp, 403)
    bearer_challenge(result, resp, "insufficient_scope")
