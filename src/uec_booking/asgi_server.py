"""Run an ASGI app with uvicorn on a loopback port in a background thread, over TLS when
given a `ServerTLS`.

Used by the in-process sandbox (`uec-booking demo`) and the tests: real sockets, one process.

uvicorn does not put the peer's certificate in the ASGI scope, so `PeerCertProtocol` (a
subclass of uvicorn's HTTP protocol) reads it from the TLS transport when the connection is
made and hands it to every request on that connection as `scope["state"]["tls_peer_cert"]`
(the decoded, already verified certificate, as `ssl.SSLSocket.getpeercert()` gives it; None
when the client sent none). The same class bounds how long a client may take to send a
request's headers (slow-header clients are disconnected).
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import threading
import time
from typing import Any

import uvicorn

from uec_booking.netutil import free_port, wait_for_port
from uec_booking.tls import ServerTLS

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

PEER_CERT = "tls_peer_cert"
HSTS = "max-age=31536000; includeSubDomains"  # RFC 6797: a year
HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its headers


class PeerCertProtocol(_Base):
    """uvicorn's HTTP protocol, plus the peer certificate in each request's scope state and
    a deadline for request headers."""

    _header_timer: asyncio.TimerHandle | None = None
    _awaiting_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        ssl_object = transport.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if isinstance(ssl_object, ssl.SSLObject) else None
        # app_state is copied into every request's scope["state"]: a per-connection copy
        # carries this connection's certificate and nobody else's.
        self.app_state = {**self.app_state, PEER_CERT: peer or None}
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers and self._header_timer is None:
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._too_slow)
        super().data_received(data)

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection: request headers took over %ss", HEADER_TIMEOUT)
            self.transport.close()

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_headers = True  # the next request on this connection
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def uvicorn_config(
    app: Any, *, host: str, port: int, tls: ServerTLS | None = None, **options: Any
) -> uvicorn.Config:
    """A uvicorn Config with our protocol and, when `tls` is given, its SSL context."""
    hsts = options.pop("hsts", True)
    if tls is not None:
        context = tls.context()
        options["ssl_context_factory"] = lambda config, default: context
        options.setdefault("ssl_certfile", str(tls.cert))  # marks the server as HTTPS
        options.setdefault("ssl_keyfile", str(tls.key))
        if hsts:
            options.setdefault("headers", [("strict-transport-security", HSTS)])
    return uvicorn.Config(app, host=host, port=port, http=PeerCertProtocol, **options)


class ThreadedServer:
    """An ASGI app served by uvicorn on `host:port` from a daemon thread."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: ServerTLS | None = None,
        relay: bool = False,
    ) -> None:
        """`relay=True` (a proxy): the server adds no Server, Date or HSTS header of its own,
        the answer's headers being the upstream's."""
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        config = uvicorn_config(
            app,
            host=host,
            port=self.port,
            tls=tls,
            **({"server_header": False, "date_header": False, "hsts": False} if relay else {}),
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ThreadedServer:
        """Return once this server listens; raise if it cannot (another process holding the
        port would otherwise answer in its place)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(
                    errno.EADDRINUSE, f"cannot listen on {self.host}:{self.port}: port in use"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url} did not start within {timeout}s")
            time.sleep(0.01)
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
