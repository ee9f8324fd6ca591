"""Where a slot search and a booking spend their CPU: cProfile of the provider in-process
(httpx's ASGI transport, PostgreSQL store), self time grouped by package."""

from __future__ import annotations

import asyncio
import cProfile
import pstats
from collections import defaultdict
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, text

from bench.scenarios import _appointment, search_path
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store.db import sync_url

PACKAGES = (
    "uec_booking",
    "sqlalchemy",
    "asyncpg",
    "fastapi",
    "starlette",
    "pydantic",
    "fhir_core",
    "fhir",
    "orjson",
    "httpx",
    "anyio",
    "asyncio",
    "json",
    "datetime",
)


def _package(filename: str) -> str:
    for name in PACKAGES:
        if f"/{name}/" in filename or f"{name}." in filename.rsplit("/", 1)[-1]:
            return name
    return "python builtins" if filename.startswith("~") or filename == "<built-in>" else "other"


def _grouped(profile: cProfile.Profile, requests: int) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile)
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _, function), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        waiting = filename == "~" and ("poll" in function or "select" in function)
        by_package["(waiting on I/O)" if waiting else _package(filename)] += tottime
    return sorted(((k, v / requests * 1000) for k, v in by_package.items()), key=lambda kv: -kv[1])


def profile(db_url: str, n: int = 100) -> dict[str, Any]:
    app = create_app(ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF))
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        slots = conn.execute(
            text(
                "SELECT id, start, \"end\" FROM slot WHERE status='free' AND start > now() ORDER BY id DESC LIMIT :n"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    bodies = [
        _appointment(s[0], s[1].isoformat() + "+00:00", s[2].isoformat() + "+00:00") for s in slots
    ]

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            path = search_path()
            for _ in range(10):
                await client.get(path)
            search = cProfile.Profile()
            search.enable()
            for _ in range(n):
                await client.get(path)
            search.disable()
            book = cProfile.Profile()
            book.enable()
            for body in bodies:
                await client.post(
                    "/fhir/Appointment",
                    content=body,
                    headers={"Content-Type": "application/fhir+json"},
                )
            book.disable()
        out["slot search"] = _grouped(search, n)
        out["booking"] = _grouped(book, len(bodies))
        return out

    return asyncio.run(run())


def report(profiles: dict[str, Any]) -> str:
    lines = [
        "",
        "Time per request by package (cProfile self time, in-process, PostgreSQL; cProfile roughly doubles it):",
    ]
    for what, groups in profiles.items():
        total = sum(ms for _, ms in groups)
        top = ", ".join(f"{name} {ms:.2f}" for name, ms in groups[:7] if ms >= 0.05)
        lines.append(f"  {what}: {total:.2f} ms  ({top})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(orjson.dumps(profile(sys.argv[1])).decode())
