"""One LDAP search against SDS, for every actor that asks SDS itself (the SSP checking a
target, the consumer finding an endpoint): connect (ldaps, or StartTLS), bind anonymously,
search, and close whatever ldap3 holds, even after a failed connect."""

from __future__ import annotations

import contextlib
import math
import ssl
from dataclasses import dataclass
from typing import TypedDict, Unpack

from ldap3 import Connection, Server, Tls


class SearchRefused(Exception):
    """SDS answered the search with an error result (not noSuchObject)."""

    def __init__(self, description: str, message: str) -> None:
        super().__init__(f"{description} {message}".strip())
        self.description, self.message = description, message


def values(value: object) -> list[str]:
    """ldap3 gives a SINGLE-VALUE attribute (when it knows the schema) as a bare value."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def search(
    url: str,
    tls: Tls,
    *,
    base: str,
    scope: str,
    query: str,
    attributes: list[str],
    timeout: float,
    start_tls: bool = False,
) -> list[dict[str, list[str]]]:
    """The entries found (none for noSuchObject), each attribute as a list of strings.
    Raises SearchRefused for an error result, ldap3's LDAPException or OSError when SDS
    cannot be reached or the TLS handshake fails: what that means is the caller's to say."""
    server = Server(
        url, use_ssl=url.lower().startswith("ldaps://"), tls=tls, connect_timeout=timeout
    )
    # ldap3 packs receive_timeout into SO_RCVTIMEO: whole seconds only.
    conn = Connection(server, read_only=True, receive_timeout=max(1, math.ceil(timeout)))
    try:
        conn.open()
        if start_tls:
            conn.start_tls()
        conn.bind()
        conn.search(base, query, search_scope=scope, attributes=attributes)
        if conn.result["result"] == 32:  # noSuchObject
            return []
        if conn.result["result"] not in (0, 4):  # success, or sizeLimitExceeded with entries
            raise SearchRefused(str(conn.result["description"]), str(conn.result["message"]))
        return [
            {k: values(vs) for k, vs in e["attributes"].items()}
            for e in conn.response
            if e.get("type") == "searchResEntry"
        ]
    finally:
        # ldap3 leaves a failed connect's socket open: close whatever it holds.
        with contextlib.suppress(Exception):
            conn.unbind()
        sock = getattr(conn, "socket", None)
        if sock is not None:
            sock.close()


class Reach(TypedDict, total=False):
    """How an actor reaches SDS, the same for each actor's own client: its certificate
    checked against `ca_file` (unless `verify` is off), `cert_file`/`key_file` presented
    when given (TLS-MA), StartTLS on `ldap://` with `start_tls`."""

    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    verify: bool
    timeout: float
    start_tls: bool


@dataclass(frozen=True)
class Directory:
    """An SDS to search: where it listens and how it is reached (the SSP and the consumer
    each hold one)."""

    url: str
    tls: Tls
    timeout: float = 5.0
    start_tls: bool = False

    @classmethod
    def at(cls, url: str, **reach: Unpack[Reach]) -> Directory:
        """SDS at `url`, reached as `reach` says."""
        tls = Tls(
            validate=ssl.CERT_REQUIRED if reach.get("verify", True) else ssl.CERT_NONE,
            ca_certs_file=reach.get("ca_file"),
            local_certificate_file=reach.get("cert_file"),
            local_private_key_file=reach.get("key_file"),
        )
        return cls(url, tls, reach.get("timeout", cls.timeout), reach.get("start_tls", False))

    def search(
        self, base: str, scope: str, query: str, attributes: list[str]
    ) -> list[dict[str, list[str]]]:
        """`search` on this directory."""
        return search(
            self.url,
            self.tls,
            base=base,
            scope=scope,
            query=query,
            attributes=attributes,
            timeout=self.timeout,
            start_tls=self.start_tls,
        )
