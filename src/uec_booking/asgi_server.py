"""Run an ASGI app with uvicorn on a loopback port in a background thread.

Used by the in-process sandbox (`uec-booking demo`) and the tests: real sockets, one process.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

import uvicorn

from uec_booking.netutil import free_port, wait_for_port


class ThreadedServer:
    """An ASGI app served by uvicorn on `host:port` from a daemon thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", lifespan="on", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

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
