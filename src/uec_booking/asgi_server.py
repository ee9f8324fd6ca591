"""Run an ASGI app with uvicorn on a loopback port in a background thread, over TLS when
given a `ServerTLS`.

Used by the in-process sandbox (`uec-booking demo`) and the tests: real sockets, one process.

uvicorn does not put the peer's certificate in the ASGI scope, so `PeerCertProtocol` (a
subclass of uvicorn's HTTP protocol) reads it from the TLS transport when the connection is
made and hands it to every request on that connection as `scope["state"]["tls_peer_cert"]`
(the decoded, already verified certificate, as `ssl.SSLSocket.getpeercert()` gives it; None
when the client sent none). The same class bounds how long a client may take to send a
request's head and body: `RequestTimeouts`, from `UEC_REQUEST_HEAD_TIMEOUT` and
`UEC_REQUEST_BODY_TIMEOUT` or the serve commands' `--request-head-timeout` /
`--request-body-timeout`. A client too slow with its body gets 408; one too slow with its head
gets 408 when it had begun a request, and its connection closed either way.
"""

from __future__ import annotations

import asyncio
import errno
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn

from uec_booking.cli_errors import UserError
from uec_booking.netutil import free_port, wait_for_port
from uec_booking.tls import ServerTLS

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

PEER_CERT = "tls_peer_cert"
HSTS = "max-age=31536000; includeSubDomains"  # RFC 6797: a year
HEAD_TIMEOUT_ENV = "UEC_REQUEST_HEAD_TIMEOUT"
BODY_TIMEOUT_ENV = "UEC_REQUEST_BODY_TIMEOUT"
# Nothing of the request reached the app, so the server answers for it (RFC 9110 15.5.9).
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\nconnection: close\r\n\r\nrequest not received in time\n"
)


LINGER = 2.0  # seconds a sent-away connection's late bytes are drained before it is closed


@dataclass(frozen=True)
class RequestTimeouts:
    """How long a client may take to send a request, in seconds. A client that trickles its
    headers or body would otherwise hold a connection (and the app's task waiting on the body)
    for as long as it likes: the attack on the sandbox held them 25-40 s."""

    head: float = 10.0
    """From the connection opening, or a later request's first byte, to the end of its headers."""
    body: float = 30.0
    """From the end of the headers to the end of the body (a total deadline, whatever the rate)."""

    def __post_init__(self) -> None:
        if not (self.head > 0 and self.body > 0):
            raise UserError(f"request timeouts must be positive seconds (got {self})")

    @classmethod
    def from_env(
        cls,
        head: float | None = None,
        body: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RequestTimeouts:
        """The given values, else `UEC_REQUEST_HEAD_TIMEOUT` / `UEC_REQUEST_BODY_TIMEOUT`,
        else the defaults."""
        env = os.environ if env is None else env
        values: dict[str, float] = {}
        for field, given, name in (
            ("head", head, HEAD_TIMEOUT_ENV),
            ("body", body, BODY_TIMEOUT_ENV),
        ):
            if given is not None:
                values[field] = given
            elif env.get(name):
                try:
                    values[field] = float(env[name])
                except ValueError:
                    raise UserError(
                        f"{name} must be a number of seconds (got {env[name]!r})"
                    ) from None
        return cls(**values)


class PeerCertProtocol(_Base):
    """uvicorn's HTTP protocol, plus the peer certificate in each request's scope state and
    deadlines for a request's head and body (`timeouts`)."""

    timeouts: ClassVar[RequestTimeouts] = RequestTimeouts()
    _deadline: asyncio.TimerHandle | None = None
    _head_begun = False
    _lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        ssl_object = transport.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if isinstance(ssl_object, ssl.SSLObject) else None
        # app_state is copied into every request's scope["state"]: a per-connection copy
        # carries this connection's certificate and nobody else's.
        self.app_state = {**self.app_state, PEER_CERT: peer or None}
        super().connection_made(transport)
        # A connection that never sends a byte is bounded too: uvicorn's keep-alive timer
        # only starts after a first response.
        self._arm(self.timeouts.head, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # the client was sent away: what it still sends is not read
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        # A later request on a kept-alive connection: its head's time starts at its first byte.
        if self._deadline is None:
            self._arm(self.timeouts.head, self._head_too_slow)
        self._head_begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_begun = False
        self._disarm()
        super().on_headers_complete()
        self._arm(self.timeouts.body, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # Our own answer to the previous (pipelined) request is still going out: the
            # client is not the slow one, and a 408 now would cut into that answer.
            self._arm(self.timeouts.head, self._head_too_slow)
            return
        self.logger.info("closed a connection: no request head within %ss", self.timeouts.head)
        self._send_away(REQUEST_TIMEOUT if self._head_begun else None)

    def _body_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("closed a connection: request body not in within %ss", self.timeouts.body)
        if not self.cycle.response_started:
            # The app is still waiting on the body; whatever it sends now is dropped, the 408
            # being the answer (uvicorn tells it the client is gone once the socket closes).
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self._send_away(REQUEST_TIMEOUT)
        else:
            self._send_away(None)

    def _send_away(self, answer: bytes | None) -> None:
        """Answer (a connection that sent nothing gets no answer) and close, lingering.

        A client still sending when the socket closes would be answered with a TCP reset,
        and a reset can throw away the 408 before the client reads it. So, as nginx's
        lingering close does, we half-close (the client reads the answer, then end of
        stream), drop what it still sends, and close for good `LINGER` seconds later."""
        if answer is not None:
            self.transport.write(answer)
        if not self.transport.can_write_eof():  # TLS: close_notify is its end of stream
            self.transport.close()
            return
        self.transport.write_eof()
        self._lingering = True
        self.transport.resume_reading()  # keep draining, or a full window would stall it
        self.loop.call_later(LINGER, self.transport.close)


def protocol_for(timeouts: RequestTimeouts) -> type[PeerCertProtocol]:
    """Our protocol class with these deadlines (uvicorn builds one instance a connection)."""
    return type("PeerCertProtocol", (PeerCertProtocol,), {"timeouts": timeouts})


class ProtocolFromEnv(PeerCertProtocol):
    """`PeerCertProtocol` with its deadlines from `UEC_REQUEST_HEAD_TIMEOUT` /
    `UEC_REQUEST_BODY_TIMEOUT`, read when the module is imported: for `uvicorn.run` with
    several workers, each a new process that imports the protocol by name (a class made by
    `protocol_for` cannot be sent to another process). In-process, use `protocol_for`: this
    module may have been imported before the variables were set."""

    timeouts = RequestTimeouts.from_env()


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    tls: ServerTLS | None = None,
    timeouts: RequestTimeouts | None = None,
    **options: Any,
) -> uvicorn.Config:
    """A uvicorn Config with our protocol (deadlines `timeouts`, else from the environment)
    and, when `tls` is given, its SSL context."""
    hsts = options.pop("hsts", True)
    if tls is not None:
        context = tls.context()
        options["ssl_context_factory"] = lambda config, default: context
        options.setdefault("ssl_certfile", str(tls.cert))  # marks the server as HTTPS
        options.setdefault("ssl_keyfile", str(tls.key))
        if hsts:
            options.setdefault("headers", [("strict-transport-security", HSTS)])
    protocol = protocol_for(timeouts or RequestTimeouts.from_env())
    return uvicorn.Config(app, host=host, port=port, http=protocol, **options)


def serve(app: Any, **options: Any) -> None:
    """Serve `app` in the foreground until SIGINT/SIGTERM (a `serve ...` command); `options`
    as `uvicorn_config` takes them (host and port required)."""
    options.setdefault("log_level", "warning")
    options.setdefault("timeout_graceful_shutdown", 10)
    uvicorn.Server(uvicorn_config(app, **options)).run()


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
        timeouts: RequestTimeouts | None = None,
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
            timeouts=timeouts,
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
