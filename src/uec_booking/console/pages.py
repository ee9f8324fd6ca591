"""Rendering: one Jinja2 environment, and the pages every handler shares."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from uec_booking.console.security import User, csrf_token

HERE = Path(str(resources.files("uec_booking.console")))
LONDON = ZoneInfo("Europe/London")  # call handlers and receptionists work in UK time

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _local(moment: datetime, fmt: str = "%H:%M") -> str:
    return moment.astimezone(LONDON).strftime(fmt)


templates.env.filters["local"] = _local
templates.env.globals["utc"] = UTC


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", User.from_session(request))
    context["csrf_token"] = csrf_token(request)
    return templates.TemplateResponse(request, name, context, status_code=status)


def message(
    request: Request,
    status: int,
    title: str,
    text: str,
    *,
    detail: str | None = None,
    back: tuple[str, str] | None = None,
    error: bool = True,
) -> HTMLResponse:
    """A page with one sentence (and the technical detail one click away); `back` is a
    (link, words) pair that returns to where the person was, keeping what they entered."""
    return page(
        request,
        "message.html",
        status,
        title=title,
        message=text,
        detail=detail,
        back=back,
        is_error=error,
    )
