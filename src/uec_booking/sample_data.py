"""The sample directory every sandbox actor is seeded from, so DoS, SDS, PDS, the auth
service and the provider all agree on the same services, ASIDs and patients.

It is data shared by configuration, not code shared between actors: a real deployment
replaces each actor's copy with its own source of truth.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any


@lru_cache(maxsize=4)
def load(path: str | None = None) -> dict[str, Any]:
    """The sample directory (the packaged one unless `path` names another file)."""
    if path:
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))
    text = resources.files("uec_booking.data").joinpath("sample_directory.json").read_text("utf-8")
    return dict(json.loads(text))


def bookable_services(directory: dict[str, Any]) -> list[dict[str, Any]]:
    """The services the sandbox provider offers slots for (those with availability)."""
    return [s for s in directory["healthcare_services"] if s.get("availability")]
