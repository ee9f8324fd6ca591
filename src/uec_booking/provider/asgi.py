"""Entry point for uvicorn workers: the app built from `UEC_*` environment variables.

`uec-booking serve provider --workers N` puts its flags into the environment and starts
N processes on `uec_booking.provider.asgi:app_from_env`; each builds the same app.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from uec_booking.provider.app import create_app
from uec_booking.provider.settings import ProviderSettings


def app_from_env() -> FastAPI:
    app = create_app(ProviderSettings())
    # Everything alive now (modules, the FHIR model classes: most of the heap) lives as long
    # as the worker. Out of the collector's sight, a full collection no longer stalls every
    # request in flight (it was most of slot search's p99 at 32 clients).
    gc.collect()
    gc.freeze()
    return app
