"""httpx over the project's TLS settings, with TLS failures told in one sentence.

    transport = tls_transport(context, service="PDS")
    PdsClient(base_url=…, transport=transport)

A handshake failure becomes an `httpx.ConnectError` whose message is
`describe_tls_error`'s sentence ("TLS to PDS failed: its certificate has expired."), so
every client that reports `str(exc)` reports the cause.
"""

from __future__ import annotations

import ssl

import httpx

from uec_booking.tls import describe_tls_error


class TlsTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that names the service and cause of a TLS failure."""

    def __init__(self, *, context: ssl.SSLContext | bool, service: str) -> None:
        super().__init__(verify=context)
        self.service = service

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            sentence = describe_tls_error(exc, self.service)
            if (
                sentence is None
                and isinstance(exc, httpx.RemoteProtocolError)
                and request.url.scheme == "https"
                and "without sending" in str(exc)
            ):
                sentence = (
                    f"TLS to {self.service} failed: it hung up before answering "
                    "(no, an untrusted or an expired client certificate?)."
                )
            if sentence is None:
                raise
            raise httpx.ConnectError(sentence, request=request) from exc


def tls_transport(context: ssl.SSLContext | None, *, service: str) -> TlsTransport | None:
    """A transport for `service`, or None (httpx's defaults) when no context is configured."""
    return None if context is None else TlsTransport(context=context, service=service)
