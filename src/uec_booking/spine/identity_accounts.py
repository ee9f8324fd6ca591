"""Who signs in at the identity provider stand-in, and which relying parties (OIDC clients)
may ask it to: the people with their passwords (scrypt) and national RBAC roles, and the
clients with their redirect URIs and secrets, as Authlib's authorization server reads them."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin

SCOPES = ("openid", "profile", "nationalrbacaccess")
ROLES = ("call-handler", "provider-staff")


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


@dataclass(frozen=True)
class Person:
    """Someone who signs in: a sandbox user with a password and national RBAC roles."""

    username: str
    name: str
    roles: tuple[str, ...]
    org_code: str
    salt: bytes = field(repr=False)
    password_hash: bytes = field(repr=False)

    @classmethod
    def create(
        cls, *, username: str, password: str, name: str, roles: list[str], org_code: str
    ) -> Person:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}: use {', '.join(ROLES)}")
        salt = os.urandom(16)
        return cls(username, name, tuple(roles), org_code, salt, _hash(password, salt))

    @property
    def sub(self) -> str:
        # Stable per person, not the username (CIS2's sub is the UUID, not the login).
        return hashlib.sha256(f"uec-sandbox-person:{self.username}".encode()).hexdigest()[:24]

    def check(self, password: str) -> bool:
        return hmac.compare_digest(_hash(password, self.salt), self.password_hash)


@dataclass
class OidcClient(ClientMixin):  # type: ignore[misc]
    """A relying party (the booking console): a confidential client with exact redirect URIs."""

    client_id: str
    secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def people_from_directory(directory: dict[str, Any]) -> list[Person]:
    """The sandbox's people (`people` in the sample directory)."""
    return [
        Person.create(
            username=p["username"],
            password=p["password"],
            name=p["name"],
            roles=list(p["roles"]),
            org_code=p.get("org_code", ""),
        )
        for p in directory.get("people", [])
    ]
