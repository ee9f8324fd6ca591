"""The provider's ASGI app: FHIR routes under `/fhir`, `/_health`, errors as OperationOutcomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from uec_booking.fhir.errors import (
    BadRequest,
    FhirError,
    MethodNotAllowed,
    NotFound,
    ServerError,
    ServiceUnavailable,
)
from uec_booking.fhir.http import error_response
from uec_booking.provider import admin, observability
from uec_booking.provider.availability import HorizonRoller
from uec_booking.provider.deps import Authoriser
from uec_booking.provider.middleware import RequestIdMiddleware
from uec_booking.provider.resources import appointment, directory, metadata, slot
from uec_booking.provider.security import NoAuth, token_authoriser
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.slot_cache import SlotCache
from uec_booking.provider.store import Store

log = logging.getLogger("uec_booking.provider")


def _authoriser(settings: ProviderSettings) -> Authoriser:
    if settings.auth_mode is AuthMode.OFF:
        log.warning("AUTHENTICATION IS OFF: every request is accepted without a token")
        return NoAuth()
    return token_authoriser(settings)


def create_app(settings: ProviderSettings, *, store: Store | None = None) -> FastAPI:
    """The provider app. The schema must already be migrated (see `store.migrate.upgrade`)."""
    the_store = store or Store(settings.db_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        roller = _horizon_roller(settings, the_store)
        task = asyncio.create_task(roller.run()) if roller else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await the_store.dispose()

    app = FastAPI(
        title="uec-booking provider",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.store = the_store
    cache_class = observability.ObservedSlotCache if settings.metrics else SlotCache
    app.state.slot_cache = (
        cache_class(the_store, settings.slot_cache_views, settings.slot_cache_slots)
        if settings.slot_cache_views
        else None
    )
    app.state.authorise = _authoriser(settings)
    for module in (metadata, slot, appointment, directory, admin):
        app.include_router(module.router, prefix="/fhir")

    @app.get("/_health")
    async def health() -> JSONResponse:
        """Liveness: the process answers (a load balancer's or systemd's probe)."""
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @app.get("/_ready")
    async def ready() -> JSONResponse:
        """Readiness: the store answers too; 503 while it does not (take it out of rotation)."""
        try:
            async with the_store.statement() as conn:
                await conn.execute(text("SELECT 1"))
        except ServiceUnavailable as exc:
            return JSONResponse(
                {"status": "unavailable", "store": exc.diagnostics},
                status_code=503,
                headers={"Cache-Control": "no-store", "Retry-After": "2"},
            )
        return JSONResponse({"status": "ok", "store": "ok"}, headers={"Cache-Control": "no-store"})

    if settings.metrics:
        app.add_api_route("/metrics", observability.metrics, methods=["GET"])

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError) -> Response:
        observability.count_error(exc)
        if exc.status >= 500:
            log.error("server error: %s", exc.diagnostics)
        return error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(
                request, NotFound(f"No such resource or operation: {request.url.path}")
            )
        if exc.status_code == 405:
            return error_response(
                request,
                MethodNotAllowed(f"{request.method} is not supported on {request.url.path}"),
            )
        error = (
            BadRequest(str(exc.detail)) if exc.status_code < 500 else ServerError(str(exc.detail))
        )
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, BadRequest(f"Invalid request: {exc.errors()[:3]}"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request, ServerError("Unexpected internal error; it has been logged"))

    app.add_middleware(slot.KeptSlotAnswers)
    app.add_middleware(RequestIdMiddleware)
    if settings.access_log or settings.metrics:
        if settings.access_log:
            observability.configure_access_log()
        app.add_middleware(observability.ObservabilityMiddleware, log_requests=settings.access_log)
    return app


def _horizon_roller(settings: ProviderSettings, store: Store) -> HorizonRoller | None:
    if settings.availability_file is None:
        return None
    return HorizonRoller(
        store,
        settings.availability_file,
        horizon_days=settings.availability_horizon_days,
        interval_s=settings.availability_interval_s,
    )
