"""The console's own settings: how it signs people in and where the provider's diary is.
(The consumer side — PDS, DoS, SDS, auth, SSP — is the consumer configuration.)"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConsoleSettings:
    """`UEC_CONSOLE_*` and `UEC_OIDC_*` fill it (see the README); tests build it directly."""

    oidc_issuer: str  # the identity provider for people (CIS2, or the sandbox's stand-in)
    oidc_client_id: str
    oidc_client_secret: str = field(repr=False)
    public_url: str = "http://127.0.0.1:8060"  # as the browser reaches the console
    # Signs the session cookie; a random one per process logs everyone out on restart.
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    provider_db: str | None = None  # the provider's store, for the diary
    session_max_age: int = 8 * 3600  # a shift

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def origin(self) -> str:
        return _origin(self.public_url)

    @property
    def identity_origin(self) -> str:
        return _origin(self.oidc_issuer)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
