"""The NHS authentication stand-in's registry: the consumer systems it knows (their secret
hash, or the public keys they registered for the API platform's signed-JWT flow), the
provider audiences tokens may be minted for, and the two bounded memories the token
endpoint keeps: failed attempts (for throttling) and client-assertion `jti`s (replays)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """`scrypt$<salt>$<hash>`: what the registry stores instead of the secret."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_secret(secret: str, stored: str) -> bool:
    """Constant-time check of `secret` against a `hash_secret` value (CPU-bound: ~50 ms,
    so servers call it in a worker thread)."""
    try:
        scheme, salt_b64, _ = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hash_secret(secret, salt=base64.b64decode(salt_b64))
    return hmac.compare_digest(candidate, stored)


@dataclass(frozen=True)
class Client:
    """A consumer system assured for the standard: its credentials and what it may do.

    `secret_hash` serves the seed's client-credentials flow; `jwks` (inline keys) or
    `jwks_url` serve the API platform's signed-JWT flow (RFC 7523): the public keys the
    client registered. A client may have either or both."""

    client_id: str
    secret_hash: str | None
    asid: str
    ods: str
    groups: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...] = ()  # empty: every registered provider
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, c: dict[str, Any], *, secret_hash: str | None) -> Client:
        return cls(
            client_id=c["client_id"],
            secret_hash=secret_hash,
            asid=c["asid"],
            ods=c["ods"],
            groups=tuple(c.get("groups", ())),
            scopes=tuple(c.get("scopes", ())),
            audiences=tuple(a.rstrip("/") for a in c.get("audiences", ())),
            jwks_url=c.get("jwks_url"),
            jwks=c.get("jwks"),
        )


class ClientRegistry:
    """Clients by id, and the provider service root URLs (`providers`) that are registered
    as audiences: a token is minted only for one of those (fs_authentication: every
    provider service is an app registration)."""

    def __init__(self, clients: Iterable[Client], *, providers: Iterable[str] = ()) -> None:
        self._clients = {c.client_id: c for c in clients}
        self.providers = {p.rstrip("/") for p in providers}

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def register_provider(self, audience: str) -> None:
        self.providers.add(audience.rstrip("/"))

    def register(self, client: Client) -> None:
        self._clients[client.client_id] = client

    def may_call(self, client: Client, audience: str) -> bool:
        if audience not in self.providers:
            return False
        return not client.audiences or audience in client.audiences

    @classmethod
    def from_directory(
        cls, directory: dict[str, Any], *, providers: Iterable[str] = ()
    ) -> ClientRegistry:
        """The sample directory's consumer systems (secrets hashed on load)."""
        return cls(
            (
                Client.from_json(c, secret_hash=hash_secret(c["client_secret"]))
                # Provider staff (the provider-admin scope) are clients of the same service.
                for c in [
                    *directory["consumer_systems"],
                    *directory.get("provider_admin_clients", []),
                ]
            ),
            providers=[*providers, *directory.get("provider_audiences", ())],
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ClientRegistry:
        """A JSON file: `{"providers": [<provider service root URL>, …], "clients":
        [{"client_id", "secret_hash"?, "jwks_url"? | "jwks"?, "asid", "ods", "groups",
        "scopes", "audiences"?}]}` (hash secrets with `hash_secret`)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            (Client.from_json(c, secret_hash=c.get("secret_hash")) for c in data["clients"]),
            providers=data.get("providers", ()),
        )


class FailureThrottle:
    """Failed attempts per key (a client id, a source address) in a sliding window.

    Memory is bounded twice over: at most `limit` timestamps per key, and at most
    `max_keys` keys (the least recently failed are forgotten first)."""

    def __init__(self, *, limit: int = 5, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None if it is not throttled."""
        times = self._failures.get(key)
        if times is None:
            return None
        now = time.monotonic()
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            return None
        return max(1, int(times[0] + self.window - now) + 1)

    def failed(self, key: str) -> None:
        times = self._failures.pop(key, None) or deque(maxlen=self.limit)
        times.append(time.monotonic())
        self._failures[key] = times  # most recently failed last
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


class ReplayCache:
    """Client-assertion `jti`s seen, each kept until its assertion's `exp` (at most a few
    minutes): a second use is refused. Bounded: when full of unexpired entries, new
    assertions are refused rather than old ones forgotten (a forgotten jti could replay)."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: dict[tuple[str, str], float] = {}

    def seen(self, client_id: str, jti: str) -> bool:
        exp = self._seen.get((client_id, jti))
        return exp is not None and exp >= time.time()

    def remember(self, client_id: str, jti: str, exp: float) -> bool:
        """Record a use; False when the cache is full (the caller refuses the request)."""
        if len(self._seen) >= self.max_entries:
            now = time.time()
            self._seen = {k: v for k, v in self._seen.items() if v >= now}
            if len(self._seen) >= self.max_entries:
                return False
        self._seen[(client_id, jti)] = exp
        return True
