"""Who is calling: the Authorisers the app can run with.

With auth on, every request's bearer token is verified (see `uec_booking.tokens`) and
authorised for the interaction it performs; the caller's identity is the audit provenance.
"""

from __future__ import annotations

import logging

from fastapi import Request

from uec_booking.fhir.interactions import Interaction
from uec_booking.provider.store.appointments import Provenance

log = logging.getLogger("uec_booking.provider")


def header_provenance(request: Request, **known: str | None) -> Provenance:
    """Provenance from the Spine headers, overridden by what a verified token says."""
    headers = request.headers
    return Provenance(
        client_id=known.get("client_id"),
        asid=known.get("asid") or headers.get("ssp-from"),
        ods=known.get("ods"),
        trace_id=headers.get("ssp-traceid"),
        request_id=headers.get("x-request-id"),
    )


class NoAuth:
    """Development only: every request is let in (`--no-auth`)."""

    async def __call__(
        self, request: Request, interaction: Interaction, resource_type: str | None
    ) -> Provenance:
        return header_provenance(request)
