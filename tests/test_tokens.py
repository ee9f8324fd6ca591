"""The shared token verifier against a running authentication service: every way a token
can be wrong is a 401 `invalid_token`; a valid token without the group or scope is a 403
`insufficient_scope`; the JWKS is fetched once and again only for a new kid."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.auth_support import (
    AUDIENCE,
    CONSUMER,
    DASHBOARD,
    AuthService,
    claims,
    enc,
    hs256,
    running_auth,
    signed,
    unsigned,
    verify,
)
from uec_booking.consumer.auth import InterimTokens
from uec_booking.fhir.errors import Forbidden, ServiceUnavailable, Unauthorized
from uec_booking.fhir.interactions import Interaction
from uec_booking.spine.auth_keys import SigningKey
from uec_booking.tokens import Caller, TokenVerifier, authorize


@pytest.fixture(scope="module")
def auth() -> Iterator[AuthService]:
    with running_auth() as service:
        yield service


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["groups"].append("create:appointment")
    return f"{head}.{enc(payload)}.{sig}"


def _public_pem(auth: AuthService) -> bytes:
    return auth.keys.active.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def now() -> int:  # read when a token is built: the suite may import this file long before
    return int(time.time())


# name -> (build the Authorization header, a word the diagnostics must contain)
NEGATIVE: dict[str, tuple[Callable[[AuthService], str | None], str]] = {
    "missing header": (lambda a: None, "No access token"),
    "Basic scheme": (lambda a: f"Basic {a.issue()}", "Bearer"),
    "empty Bearer": (lambda a: "Bearer ", "Bearer"),
    "malformed token": (lambda a: "Bearer not.a.jwt", "Malformed"),
    "two segments": (lambda a: "Bearer abc.def", "Malformed"),
    "expired": (
        lambda a: signed(
            claims(a, iat=now() - 7200, nbf=now() - 7200, exp=now() - 3600), a.keys.active
        ),
        "expired",
    ),
    "not yet valid": (lambda a: signed(claims(a, nbf=now() + 600), a.keys.active), "not yet valid"),
    "issued in the future": (
        lambda a: signed(claims(a, iat=now() + 600, nbf=None), a.keys.active),
        "not yet valid",
    ),
    "wrong iss": (lambda a: signed(claims(a, iss="https://evil.example"), a.keys.active), "iss"),
    "wrong aud": (lambda a: signed(claims(a, aud="http://elsewhere/fhir"), a.keys.active), "aud"),
    "no exp": (lambda a: signed(claims(a, exp=None), a.keys.active), "exp"),
    "no kid": (
        lambda a: jwt.encode(claims(a), a.keys.active.private_key, algorithm="RS256"),
        "kid",
    ),
    "unknown kid": (lambda a: signed(claims(a), SigningKey.generate()), "Unknown signing key"),
    "known kid, other key": (
        lambda a: signed(claims(a), SigningKey.generate(), kid=a.keys.active.kid),
        "signature",
    ),
    "alg none": (lambda a: unsigned(claims(a)), "Unsigned"),
    "HS256 with the public key PEM": (
        lambda a: hs256(claims(a), _public_pem(a), a.keys.active.kid),
        "HS256",
    ),
    "tampered payload": (lambda a: _tampered(a.issue()), "signature"),
}


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_negative_matrix(auth: AuthService, case: str) -> None:
    build, word = NEGATIVE[case]
    header = build(auth)
    if header is not None and not header.startswith(("Bearer", "Basic")):
        header = f"Bearer {header}"
    with pytest.raises(Unauthorized) as caught:
        verify(auth.verifier(), header)
    error = caught.value
    assert error.status == 401
    assert error.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert word.lower() in error.diagnostics.lower(), error.diagnostics


def test_issued_token_verifies_to_its_caller(auth: AuthService) -> None:
    caller = verify(auth.verifier(), f"Bearer {auth.issue()}")
    assert isinstance(caller, Caller) and caller.mode == "signed"
    assert caller.client_id == CONSUMER["client_id"] == caller.subject
    assert caller.asid == CONSUMER["asid"] and caller.ods == CONSUMER["ods"]
    assert caller.groups == frozenset(CONSUMER["groups"]) and caller.issuer == auth.url
    assert caller.scopes == frozenset(CONSUMER["scopes"])
    # The audience may be configured with a trailing slash.
    verify(auth.verifier(audience=AUDIENCE + "/"), f"Bearer {auth.issue()}")


def test_leeway_tolerates_small_clock_skew(auth: AuthService) -> None:
    now = int(time.time())
    skewed = signed(claims(auth, iat=now + 10, nbf=now + 10, exp=now - 10 + 3600), auth.keys.active)
    verify(auth.verifier(leeway=30), f"Bearer {skewed}")
    just_expired = signed(
        claims(auth, iat=now - 3610, nbf=now - 3610, exp=now - 10), auth.keys.active
    )
    verify(auth.verifier(leeway=30), f"Bearer {just_expired}")
    with pytest.raises(Unauthorized, match="expired"):
        verify(auth.verifier(leeway=0), f"Bearer {just_expired}")


def _caller(auth: AuthService, **changes: Any) -> Caller:
    result: Caller = verify(
        auth.verifier(), f"Bearer {signed(claims(auth, **changes), auth.keys.active)}"
    )
    return result


def test_group_and_scope_checks(auth: AuthService) -> None:
    booking = verify(auth.verifier(), f"Bearer {auth.issue()}")
    dashboard = verify(auth.verifier(), f"Bearer {auth.issue(DASHBOARD)}")
    for interaction in (
        Interaction.READ_METADATA,
        Interaction.READ_SLOT,
        Interaction.CREATE_APPOINTMENT,
        Interaction.UPDATE_APPOINTMENT,
        Interaction.READ_APPOINTMENT,
        Interaction.SEARCH_APPOINTMENT,
    ):
        authorize(booking, interaction)
    authorize(dashboard, Interaction.READ_METADATA)
    authorize(dashboard, Interaction.READ_SLOT)
    for resource in ("Schedule", "Location", "HealthcareService", "Organization", "Practitioner"):
        authorize(dashboard, Interaction.READ_DIRECTORY, resource)
    for interaction in (
        Interaction.CREATE_APPOINTMENT,
        Interaction.UPDATE_APPOINTMENT,
        Interaction.READ_APPOINTMENT,
    ):
        with pytest.raises(Forbidden) as caught:
            authorize(dashboard, interaction)
        assert caught.value.status == 403
        challenge = caught.value.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge and interaction.short in challenge


@pytest.mark.parametrize(
    ("groups", "scp", "interaction", "resource", "allowed"),
    [
        # The group alone is not enough: the scope must be in scp too, and vice versa.
        (["create:appointment"], "slot/*.read", Interaction.CREATE_APPOINTMENT, None, False),
        (["read:slot"], "appointment/*.write", Interaction.CREATE_APPOINTMENT, None, False),
        (["create:appointment"], "appointment/*.write", Interaction.CREATE_APPOINTMENT, None, True),
        (["read:slot"], "schedule/*.read", Interaction.READ_SLOT, None, False),
        (["search:slot"], "slot/*.read", Interaction.READ_SLOT, None, True),  # the alias
        (
            ["urn:nhs:names:services:careconnect:fhir:rest:read:slot"],
            "slot/*.read",
            Interaction.READ_SLOT,
            None,
            True,
        ),
        (["read:appointment"], "appointment/*.read", Interaction.READ_APPOINTMENT, None, True),
        (["search:appointment"], "appointment/*.write", Interaction.SEARCH_APPOINTMENT, None, True),
        (["read:appointment"], "slot/*.read", Interaction.READ_APPOINTMENT, None, False),
        (["read:slot"], "location/*.read", Interaction.READ_DIRECTORY, "Location", True),
        (["read:slot"], "location/*.read", Interaction.READ_DIRECTORY, "Schedule", False),
        (["read:slot"], "slot/*.read", Interaction.READ_DIRECTORY, "Organization", True),
        ([], "slot/*.read", Interaction.READ_DIRECTORY, "Schedule", False),
        ([], "", Interaction.READ_METADATA, None, True),
    ],
)
def test_authorize_matrix(
    auth: AuthService,
    groups: list[str],
    scp: str,
    interaction: Interaction,
    resource: str | None,
    allowed: bool,
) -> None:
    caller = _caller(auth, groups=groups, scp=scp)
    if allowed:
        authorize(caller, interaction, resource)
    else:
        with pytest.raises(Forbidden):
            authorize(caller, interaction, resource)


def test_jwks_fetched_once_for_many_verifications() -> None:
    with running_auth() as auth:
        verifier = auth.verifier()
        tokens = [auth.issue() for _ in range(3)]

        async def many() -> None:
            await asyncio.gather(*(verifier.verify(f"Bearer {t}") for t in tokens * 20))
            for token in tokens * 10:
                await verifier.verify(f"Bearer {token}")

        asyncio.run(many())
        assert auth.jwks_requests() == 1


def test_rotation_old_tokens_verify_and_a_new_kid_is_fetched_once() -> None:
    with running_auth() as auth:
        verifier = auth.verifier(jwks_refetch_interval=0.5)

        async def check(*tokens: str) -> None:
            for token in tokens:
                await verifier.verify(f"Bearer {token}")

        old = auth.issue()
        asyncio.run(check(old))
        assert auth.jwks_requests() == 1
        auth.keys.rotate()  # the next key, already published, becomes active
        rotated = auth.issue()
        asyncio.run(check(rotated, old))
        assert auth.jwks_requests() == 1, "the next key was in the cached JWKS already"

        auth.keys.rotate()  # a key the verifier has never seen
        fresh = auth.issue()
        time.sleep(0.6)
        asyncio.run(check(fresh, fresh, fresh, rotated))
        assert auth.jwks_requests() == 2, "one refetch for the new kid, then cached"
        with pytest.raises(Unauthorized, match="Unknown signing key"):
            asyncio.run(check(old))  # its key has left the JWKS
        assert auth.jwks_requests() == 2, "no refetch within the interval"


def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    with running_auth() as auth:
        verifier = auth.verifier()  # the default 30 s interval
        asyncio.run(verifier.verify(f"Bearer {auth.issue()}"))
        forger = SigningKey.generate()
        old = int(time.time()) - 60  # issued before the last fetch: no reason to refetch
        for _ in range(20):
            with pytest.raises(Unauthorized):
                forged = signed(claims(auth, iat=old, nbf=old), forger)
                asyncio.run(verifier.verify(f"Bearer {forged}"))
        assert auth.jwks_requests() == 1
        # Forged kids with a fresh iat refetch at most once a second, not once a request.
        started = time.monotonic()
        for _ in range(40):
            with pytest.raises(Unauthorized):
                asyncio.run(verifier.verify(f"Bearer {signed(claims(auth), forger)}"))
        seconds = time.monotonic() - started
        assert auth.jwks_requests() <= 2 + int(seconds), (auth.jwks_requests(), seconds)
        # ... and never for a token claiming to come from the future.
        before = auth.jwks_requests()
        time.sleep(1.1)
        future = int(time.time()) + 600
        with pytest.raises(Unauthorized):
            asyncio.run(verifier.verify(f"Bearer {signed(claims(auth, iat=future), forger)}"))
        assert auth.jwks_requests() == before


def test_a_just_rotated_key_is_never_refused() -> None:
    """Issue 13 #20: with the 30 s refetch limit, a token signed by a key published after the
    last fetch was refused for up to 30 s. A token issued after that fetch now refetches."""
    with running_auth() as auth:
        verifier = auth.verifier()  # the default 30 s interval
        asyncio.run(verifier.verify(f"Bearer {auth.issue()}"))
        assert auth.jwks_requests() == 1
        auth.keys.rotate()
        auth.keys.rotate()  # the active key was generated after the verifier's fetch
        time.sleep(1.1)  # the token's iat is then surely after the fetch (whole seconds)
        caller = asyncio.run(verifier.verify(f"Bearer {auth.issue()}"))
        assert caller.client_id == CONSUMER["client_id"]
        assert auth.jwks_requests() == 2


def test_jwks_unavailable_is_a_503_not_the_callers_fault() -> None:
    with running_auth() as auth:
        token = auth.issue()
        auth.counter.fail_with = 503
        with pytest.raises(ServiceUnavailable, match="JWKS unavailable") as failed:
            verify(auth.verifier(), f"Bearer {token}")
        assert failed.value.status == 503 and failed.value.headers["Retry-After"] == "5"
    with pytest.raises(ServiceUnavailable, match="JWKS unavailable"):
        verify(auth.verifier(), f"Bearer {token}")  # the service is gone


# --- interim mode: unsigned GP Connect-style tokens built by the consumer ---------------


def _interim(scope: str = "patient/appointment.write") -> InterimTokens:
    return InterimTokens(
        consumer_ods="X26CN1",
        consumer_name="NHS 111",
        device_id="CONS-APP-4",
        requested_scope=scope,
    )


def relaxed() -> TokenVerifier:
    return TokenVerifier(jwks_url=None, issuer=None, audience=AUDIENCE, allow_unsigned=True)


def test_interim_tokens_only_when_allowed(auth: AuthService) -> None:
    token = asyncio.run(_interim().token(audience=AUDIENCE))
    with pytest.raises(Unauthorized, match="Unsigned"):
        verify(auth.verifier(), f"Bearer {token}")
    caller = verify(relaxed(), f"Bearer {token}")
    assert caller.mode == "interim" and caller.ods == "X26CN1" and caller.asid is None
    for interaction in (
        Interaction.READ_METADATA,
        Interaction.CREATE_APPOINTMENT,
        Interaction.UPDATE_APPOINTMENT,
        Interaction.READ_APPOINTMENT,
    ):
        authorize(caller, interaction)
    # A verifier that allows unsigned tokens still checks signed ones properly.
    both = auth.verifier(allow_unsigned=True)
    verify(both, f"Bearer {auth.issue()}")
    with pytest.raises(Unauthorized):
        verify(both, f"Bearer {hs256(claims(auth), _public_pem(auth), auth.keys.active.kid)}")


@pytest.mark.parametrize(
    ("scope", "allowed", "refused"),
    [
        ("organization/slot.read", [Interaction.READ_SLOT], [Interaction.CREATE_APPOINTMENT]),
        (
            "patient/appointment.read",
            [Interaction.READ_APPOINTMENT, Interaction.SEARCH_APPOINTMENT],
            [Interaction.CREATE_APPOINTMENT, Interaction.UPDATE_APPOINTMENT],
        ),
        (
            "patient/appointment.write",
            [Interaction.CREATE_APPOINTMENT, Interaction.UPDATE_APPOINTMENT],
            [],
        ),
    ],
)
def test_interim_groups_follow_requested_scope(
    scope: str, allowed: list[Interaction], refused: list[Interaction]
) -> None:
    caller = verify(relaxed(), f"Bearer {asyncio.run(_interim(scope).token(audience=AUDIENCE))}")
    authorize(caller, Interaction.READ_METADATA)
    for interaction in allowed:
        authorize(caller, interaction)
    for interaction in refused:
        with pytest.raises(Forbidden):
            authorize(caller, interaction)


def _now() -> int:
    return int(time.time())


INTERIM_BAD: dict[str, Callable[[int], dict[str, Any]]] = {
    "lives longer than 5 minutes": lambda now: {"iat": now, "exp": now + 301},
    "lives shorter than 5 minutes": lambda now: {"iat": now, "exp": now + 120},
    "iat not an integer": lambda now: {"iat": now + 0.5, "exp": now + 300.5},
    "exp a string": lambda now: {"iat": now, "exp": str(now + 300)},
    "wrong aud": lambda now: {"aud": "https://another-provider.example/fhir"},
    "no aud": lambda now: {"aud": None},
    "no iss": lambda now: {"iss": None},
    "empty iss": lambda now: {"iss": ""},
    "no sub": lambda now: {"sub": None},
    "no reason_for_request": lambda now: {"reason_for_request": None},
    "no requested_scope": lambda now: {"requested_scope": None},
    "no requesting_device": lambda now: {"requesting_device": None},
    "device without model": lambda now: {
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{"system": "https://x.example/device", "value": "d"}],
            "version": "1",
        }
    },
    "device without identifier": lambda now: {
        "requesting_device": {"resourceType": "Device", "model": "m", "version": "1"}
    },
    "organization without name": lambda now: {
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [
                {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "X26CN1"}
            ],
        }
    },
    "organization without an ODS code": lambda now: {
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{"system": "https://x.example/org", "value": "X"}],
            "name": "x",
        }
    },
    "practitioner id is not sub": lambda now: {
        "requesting_practitioner": {"resourceType": "Practitioner", "id": "someone-else"}
    },
    "expired": lambda now: {"iat": now - 900, "exp": now - 600},
    "issued in the future": lambda now: {"iat": now + 600, "exp": now + 900},
    "no exp": lambda now: {"exp": None},
    "no iat": lambda now: {"iat": None},
    "reason not directcare": lambda now: {"reason_for_request": "secondaryuses"},
    "unknown requested_scope": lambda now: {"requested_scope": "patient/*.write"},
    "no requesting_organization": lambda now: {"requesting_organization": None},
    "organization without identifier": lambda now: {
        "requesting_organization": {"resourceType": "Organization", "name": "x"}
    },
}


def test_interim_token_must_have_an_empty_signature_and_alg_none() -> None:
    good = unsigned(_interim().claims(AUDIENCE))
    verify(relaxed(), f"Bearer {good}")
    for bad in (good + "c2ln", good.rstrip(".")):
        with pytest.raises(Unauthorized):
            verify(relaxed(), f"Bearer {bad}")
    with pytest.raises(Unauthorized, match="aud"):  # a provider without a service root URL
        verify(
            TokenVerifier(jwks_url=None, issuer=None, audience=None, allow_unsigned=True),
            f"Bearer {good}",
        )


def test_interim_tkw_claims_verify_per_interaction() -> None:
    """The test kit's token shapes (tests/data/testkit/interim_claims.json) are accepted."""
    from pathlib import Path

    kit = json.loads(
        (Path(__file__).parent / "data" / "testkit" / "interim_claims.json").read_text()
    )
    now = _now()
    for name, body in kit.items():
        if name.startswith("_"):
            continue
        token = unsigned({**body, "aud": AUDIENCE, "iat": now, "exp": now + 300})
        assert verify(relaxed(), f"Bearer {token}").scopes == {body["requested_scope"]}


@pytest.mark.parametrize("case", list(INTERIM_BAD))
def test_interim_checks(case: str) -> None:
    good = _interim().claims(AUDIENCE)
    verify(relaxed(), f"Bearer {unsigned(good)}")
    changed = {**good, **INTERIM_BAD[case](_now())}
    bad = {k: v for k, v in changed.items() if v is not None}
    with pytest.raises(Unauthorized):
        verify(relaxed(), f"Bearer {unsigned(bad)}")
