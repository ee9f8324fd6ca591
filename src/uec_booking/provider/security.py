"""Who is calling: the Authorisers the app can run with.

With auth on, every request's bearer token is verified (see `uec_booking.tokens`) and
authorised for the interaction it performs; the caller's identity is the audit provenance.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx
from fastapi import Request

from uec_booking.fhir.errors import BadRequest, FhirError
from uec_booking.fhir.interactions import Interaction
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store.appointments import Provenance
from uec_booking.tokens import TokenVerifier, authorize

log = logging.getLogger("uec_booking.provider")


def header_provenance(request: Request, **known: str | None) -> Provenance:
    """Provenance from the Spine headers, overridden by what a verified token says."""
    headers = request.headers
    return Provenance(
        client_id=_bounded(known.get("client_id"), 128),
        asid=_bounded(known.get("asid") or headers.get("ssp-from"), 64),
        ods=_bounded(known.get("ods"), 32),
        trace_id=_bounded(headers.get("ssp-traceid"), 128),
        request_id=request_id(request),
    )


def request_id(request: Request) -> str | None:
    """The client's X-Request-ID (fs_xti): at most 128 visible ASCII characters."""
    value = request.headers.get("x-request-id")
    if value is None:
        return None
    if not 0 < len(value) <= 128 or not value.isascii() or not value.isprintable():
        raise BadRequest(
            "X-Request-ID must be 1 to 128 printable ASCII characters (a UUID is usual)",
            spine_code="BAD_REQUEST",
        )
    return value


def _bounded(value: str | None, size: int) -> str | None:
    """Identity from headers is recorded, never trusted to fit: cut to the column's size."""
    return value[:size] if value else value


class NoAuth:
    """Development only: every request is let in (`--no-auth`)."""

    async def __call__(
        self, request: Request, interaction: Interaction, resource_type: str | None
    ) -> Provenance:
        return header_provenance(request)


class TokenAuth:
    """Verifies the bearer token (signature via JWKS, or the interim unsigned form when the
    provider was started in that mode) and authorises it for the interaction."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def __call__(
        self, request: Request, interaction: Interaction, resource_type: str | None
    ) -> Provenance:
        try:
            caller = await self.verifier.verify(request.headers.get("authorization"))
            authorize(caller, interaction, resource_type)
        except FhirError as exc:
            # A consumer-side error: log it with whatever identity the request claims.
            log.warning(
                "refused %s %s (%s): %s [Ssp-From=%s Ssp-TraceID=%s]",
                request.method,
                request.url.path,
                interaction.short,
                exc.diagnostics,
                request.headers.get("ssp-from"),
                request.headers.get("ssp-traceid"),
            )
            raise
        who = header_provenance(
            request, client_id=caller.client_id, asid=caller.asid, ods=caller.ods
        )
        return replace(who, verified=True, system=_bounded(caller.asid, 64))


def token_authoriser(settings: ProviderSettings) -> TokenAuth:
    """The Authoriser for `signed` (JWKS) or `interim` (unsigned tokens) mode."""
    interim = settings.auth_mode is AuthMode.INTERIM
    if not interim and not settings.jwks_url:
        raise ValueError("signed auth mode needs a JWKS URL (UEC_JWKS_URL)")
    if interim and not settings.public_base_url:
        # Interim tokens name the provider's service root URL as aud; without it every
        # token would be refused (fs_authentication, the aud claim).
        raise ValueError("interim auth mode needs the service root URL (UEC_PUBLIC_BASE_URL)")
    if interim:
        log.warning(
            "INTERIM AUTH MODE: unsigned consumer-built tokens for %s are accepted",
            settings.public_base_url,
        )
    http = None
    if settings.tls_ca_file:  # the JWKS over TLS from a CA of our own (the sandbox's)
        from uec_booking.tls import client_context

        http = httpx.AsyncClient(
            verify=client_context(ca_file=settings.tls_ca_file, service="the JWKS server")
        )
    verifier = TokenVerifier(
        jwks_url=settings.jwks_url,
        issuer=settings.token_issuer,
        audience=settings.public_base_url,
        allow_unsigned=interim,
        http=http,
    )
    return TokenAuth(verifier)
