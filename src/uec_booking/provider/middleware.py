"""ASGI middleware: the standard's request-ID headers on every response (fs_xti)."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestIdMiddleware:
    """Answers every request with our own `X-Request-ID` and echoes the client's one as
    `X-Correlation-ID`, so each side can find the other's log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                client_id = value[:128]
                break
        ours = str(uuid.uuid4()).encode()

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-request-id", b"x-correlation-id")
                ]
                headers.append((b"x-request-id", ours))
                if client_id is not None:
                    headers.append((b"x-correlation-id", client_id))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_ids)
