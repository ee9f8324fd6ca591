"""Access-token verification, shared by the provider and the SSP.

Signed mode: RS256 tokens from the NHS authentication service, checked against its JWKS
(cached; fetched again for an unknown `kid` at most every 30 s — or sooner when the token
was issued after the last fetch, so a just-rotated key is never refused). Interim mode (the
standard's 2021 rule, `tokens_interim`): unsigned GP Connect-style tokens built by the
consumer, accepted only when a server is started that way. Every failure is an RFC 6750 `invalid_token` (401);
a valid token without the scope or group for the interaction is `insufficient_scope` (403).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from uec_booking.fhir.errors import Forbidden, ServiceUnavailable, Unauthorized
from uec_booking.fhir.interactions import PREFIX, Interaction, parse_interaction
from uec_booking.tokens_interim import INTERIM_SCOPES, check_interim

__all__ = [
    "INTERIM_SCOPES",
    "REQUIRED_SCOPES",
    "Caller",
    "TokenVerifier",
    "authorize",
    "bearer_token",
]

SIGNED_ALGORITHMS = ["RS256"]
JWKS_REFETCH_INTERVAL_S = 30.0
JWKS_RETRY_AFTER_FAILURE_S = 5.0
JWKS_MIN_REFETCH_S = 1.0  # even a token newer than the last fetch waits this long

# Scopes the seed names, per interaction; any one of them suffices.
REQUIRED_SCOPES: dict[Interaction, tuple[str, ...]] = {
    Interaction.READ_METADATA: (),
    Interaction.READ_SLOT: ("slot/*.read",),
    Interaction.CREATE_APPOINTMENT: ("appointment/*.write",),
    Interaction.UPDATE_APPOINTMENT: ("appointment/*.write",),
    Interaction.READ_APPOINTMENT: ("appointment/*.read", "appointment/*.write"),
    Interaction.SEARCH_APPOINTMENT: ("appointment/*.read", "appointment/*.write"),
}


@dataclass(frozen=True)
class Caller:
    """Who a verified token says is calling."""

    client_id: str | None
    asid: str | None
    ods: str | None
    groups: frozenset[str]
    scopes: frozenset[str]
    subject: str | None
    issuer: str | None
    mode: str  # "signed" | "interim"
    claims: dict[str, Any] = field(repr=False, compare=False)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("No access token: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must use the Bearer scheme")
    return token.strip()


class TokenVerifier:
    def __init__(
        self,
        *,
        jwks_url: str | None,
        issuer: str | None,
        audience: str | None,
        leeway: int = 30,
        allow_unsigned: bool = False,
        http: httpx.AsyncClient | None = None,
        jwks_refetch_interval: float = JWKS_REFETCH_INTERVAL_S,
    ) -> None:
        if not allow_unsigned and not jwks_url:
            raise ValueError("a JWKS URL is needed to verify signed tokens")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience.rstrip("/") if audience else None
        self.leeway = leeway
        self.allow_unsigned = allow_unsigned
        self.jwks_refetch_interval = jwks_refetch_interval
        self._http = http
        self._keys: dict[str, Any] = {}
        self._next_fetch_at = float("-inf")  # monotonic time before which no refetch happens
        self._fetched_at = float("-inf")  # wall-clock time of the last successful fetch
        self._last_attempt = float("-inf")  # monotonic time of the last fetch attempt
        self._lock = asyncio.Lock()
        self.jwks_fetches = 0
        self._jwks_error: str | None = None  # why the last fetch failed, while it has

    async def verify(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Malformed access token: {exc}") from exc
        alg = header.get("alg")
        if alg == "none":
            if not self.allow_unsigned:
                raise Unauthorized("Unsigned tokens are not accepted here")
            return self._interim(token)
        if alg not in SIGNED_ALGORITHMS:
            raise Unauthorized(f"Token algorithm {alg!r} is not accepted (RS256 only)")
        key = await self._key(header.get("kid"), _unverified_iat(token))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=SIGNED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={
                    "require": ["exp", "iat", "aud", "iss"],
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(_diagnostics(exc)) from exc
        groups = claims.get("groups") or []
        if not isinstance(groups, list):
            raise Unauthorized("The token's groups claim must be a list")
        return Caller(
            client_id=_str(claims.get("appid") or claims.get("sub")),
            asid=_str(claims.get("asid")),
            ods=_str(claims.get("ods")),
            groups=frozenset(_group(str(g)) for g in groups),
            scopes=frozenset(str(claims.get("scp", "")).split()),
            subject=_str(claims.get("sub")),
            issuer=_str(claims.get("iss")),
            mode="signed",
            claims=claims,
        )

    async def _key(self, kid: object, iat: float | None) -> Any:
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("The token header has no kid naming its signing key")
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Another coroutine may have fetched while this one waited. An unknown kid
            # refetches at most once per interval, so forged kids cannot hammer the service;
            # but a token issued after the last fetch may name a key published since (a
            # rotation), so that refetches at once — still at most once a second, and only
            # for an iat that is not in the future.
            if kid not in self._keys and self._may_fetch(iat):
                await self._fetch_jwks()
        if kid not in self._keys:
            if self._jwks_error is not None:  # the key may well exist: we cannot know yet
                raise self._unavailable(self._jwks_error)
            raise Unauthorized(f"Unknown signing key kid={kid!r} (not in the JWKS)")
        return self._keys[kid]

    def _may_fetch(self, iat: float | None) -> bool:
        now = time.monotonic()
        if now >= self._next_fetch_at:
            return True
        if now - self._last_attempt < JWKS_MIN_REFETCH_S or iat is None:
            return False
        # iat has whole seconds: a token from the second of the last fetch may be newer.
        return self._fetched_at - 1 < iat <= time.time() + self.leeway

    async def _fetch_jwks(self) -> None:
        if self.jwks_url is None:
            raise Unauthorized("Signed tokens cannot be checked here: no JWKS URL configured")
        started = time.monotonic()
        self._last_attempt = started
        wall = time.time()
        self._next_fetch_at = started + min(self.jwks_refetch_interval, JWKS_RETRY_AFTER_FAILURE_S)
        self.jwks_fetches += 1
        try:
            if self._http is not None:
                # A fetch comes at most once a refetch interval: nothing is gained by keeping
                # the connection, and a client we are given outlives the loop it is used on (a
                # server's), whose shutdown would find the kept-alive socket still open.
                response = await self._http.get(
                    self.jwks_url, timeout=10, headers={"Connection": "close"}
                )
            else:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(self.jwks_url)
            response.raise_for_status()
            keys = response.json()["keys"]
            self._keys = {
                k["kid"]: RSAAlgorithm.from_jwk(k)
                for k in keys
                if k.get("kty") == "RSA" and "kid" in k
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
            self._jwks_error = str(exc) or type(exc).__name__
            raise self._unavailable(self._jwks_error) from exc
        self._jwks_error = None
        self._fetched_at = wall
        self._next_fetch_at = started + self.jwks_refetch_interval

    @staticmethod
    def _unavailable(reason: str) -> ServiceUnavailable:
        # Not the caller's fault: the token may be good. 503, to be retried.
        return ServiceUnavailable(
            f"Cannot check the token: JWKS unavailable ({reason})",
            retry_after=int(JWKS_RETRY_AFTER_FAILURE_S),
        )

    def _interim(self, token: str) -> Caller:
        claims, scope, ods = check_interim(token, audience=self.audience, leeway=self.leeway)
        return Caller(
            client_id=_str(claims.get("iss")),
            asid=None,
            ods=ods,
            groups=INTERIM_SCOPES[scope],
            scopes=frozenset({scope}),
            subject=_str(claims.get("sub")),
            issuer=_str(claims.get("iss")),
            mode="interim",
            claims=claims,
        )


def _unverified_iat(token: str) -> float | None:
    """The `iat` a token claims (unverified: it only decides whether to refetch the JWKS)."""
    try:
        iat = jwt.decode(token, options={"verify_signature": False}).get("iat")
    except jwt.PyJWTError:
        return None
    return float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _group(name: str) -> str:
    """Groups may be short names (`read:slot`), full interaction IDs or aliases (`search:slot`)."""
    interaction = parse_interaction(name)
    return interaction.short if interaction else name.removeprefix(PREFIX)


def _diagnostics(exc: jwt.PyJWTError) -> str:
    """PyJWT's error, said in the words of the check that failed."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The access token has expired (exp)"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return f"The access token is not yet valid (nbf/iat): {exc}"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"The access token is not for this service (aud): {exc}"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"The access token's issuer is not trusted (iss): {exc}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The access token lacks a required claim: {exc.claim}"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "The access token's signature does not verify"
    if isinstance(exc, jwt.DecodeError):
        return f"Malformed access token: {exc}"
    return f"Invalid access token: {exc}"


def authorize(caller: Caller, interaction: Interaction, resource_type: str | None = None) -> None:
    """Refuse (403) a caller not assured for `interaction` or without its scope."""
    if interaction is Interaction.READ_METADATA:
        return
    if interaction is Interaction.READ_DIRECTORY:
        group = "read:slot"
        scopes: tuple[str, ...] = ("slot/*.read",) + (
            (f"{resource_type.lower()}/*.read",) if resource_type else ()
        )
    else:
        group = interaction.short
        scopes = REQUIRED_SCOPES[interaction]
    if group not in caller.groups:
        raise Forbidden(f"The caller is not assured for {group}", scope=group)
    if caller.mode == "signed" and scopes and not caller.scopes.intersection(scopes):
        raise Forbidden(f"The token lacks the scope {' or '.join(scopes)}", scope=scopes[0])
