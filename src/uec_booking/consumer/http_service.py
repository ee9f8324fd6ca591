"""What every HTTP client of the consumer holds: a timeout, and the transport a test puts in
place of the network (None: the real one)."""

from __future__ import annotations

import httpx


class HttpService:
    """A client of one HTTP service; each request opens its own `httpx.AsyncClient`, so a
    client object is safe to share across event loops (the CLI's and the console's)."""

    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None) -> None:
        self.timeout = timeout
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=self.timeout)
