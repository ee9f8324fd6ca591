"""Entry point for uvicorn workers: the app built from `UEC_*` environment variables.

`uec-booking serve provider --workers N` puts its flags into the environment and starts
N processes on `uec_booking.provider.asgi:app_from_env`; each builds the same app.
"""

from __future__ import annotations

from fastapi import FastAPI

from uec_booking.provider.app import create_app
from uec_booking.provider.settings import ProviderSettings


def app_from_env() -> FastAPI:
    return create_app(ProviderSettings())
