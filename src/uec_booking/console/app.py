"""The console's ASGI app: server-rendered pages (Jinja2) that work without JavaScript.

Sign-in by OIDC (`signin.py`), roles and the checks every request passes (`security.py`),
the call handler's pages (`booking.py`), the diary and reports (`views.py`). A journey's
state is held on the server (`journeys.py`); the journal is written by one `Recorder`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from uec_booking.console import booking, signin, views
from uec_booking.console.journeys import JourneyStore
from uec_booking.console.pages import HERE, message
from uec_booking.console.record import Recorder
from uec_booking.console.security import (
    CALL_HANDLER,
    PROVIDER_STAFF,
    Refused,
    SecurityHeaders,
    User,
)
from uec_booking.console.settings import ConsoleSettings
from uec_booking.consumer.config import ConsumerConfig
from uec_booking.consumer.journal import Journal
from uec_booking.consumer.wiring import build_workflow
from uec_booking.provider.diary import Diary


@dataclass
class Console:
    """What a console serves: the consumer side, its journal, and its own settings."""

    config: ConsumerConfig
    journal: Journal | None
    settings: ConsoleSettings


async def home(request: Request) -> Response:
    user = User.from_session(request)
    if user is None:
        return RedirectResponse("/signin?next=%2F", 303)
    if not user.may(CALL_HANDLER) and user.may(PROVIDER_STAFF):
        return RedirectResponse("/provider", 303)
    return await booking.start(request)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return message(request, exc.status, exc.title, exc.message, back=("/", "Start again"))


async def not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    title = "Page not found" if status == 404 else "That request cannot be served"
    return message(request, status, title, "Check the address, or start again.")


def create_app(console: Console) -> Starlette:
    settings = console.settings
    diary = Diary(settings.provider_db) if settings.provider_db else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if diary is not None:
            await diary.close()

    app = Starlette(
        routes=[
            Route("/", home),
            *signin.routes,
            Route("/services", booking.services, methods=["POST"]),
            Route("/slots", booking.choose_service, methods=["POST"]),
            Route("/journeys/{journey}/slots", booking.slots),
            Route("/book", booking.book, methods=["POST"]),
            Route("/cancel", booking.cancel, methods=["POST"]),
            Route("/rebook", booking.rebook, methods=["POST"]),
            Route("/provider", views.provider_diary),
            Route("/provider/slots", views.change_slot, methods=["POST"]),
            Route("/reports", views.reports),
            Route("/_health", health),
            Mount("/static", StaticFiles(directory=str(HERE / "static"))),
            Mount("/assets", StaticFiles(directory=str(HERE / "static" / "assets"))),
        ],
        middleware=[
            Middleware(SecurityHeaders, identity_origin=settings.identity_origin),
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret,
                session_cookie="uec_console_session",
                max_age=settings.session_max_age,
                same_site="lax",  # the OIDC callback is a top-level GET from the identity provider
                https_only=settings.https,
            ),
        ],
        exception_handlers={Refused: refused, HTTPException: not_found},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.workflow = build_workflow(console.config)
    app.state.recorder = Recorder(console.journal)
    app.state.journeys = JourneyStore()
    app.state.diary = diary
    app.state.oidc = signin.oidc_client(settings)
    return app
