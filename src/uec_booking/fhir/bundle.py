"""The one way to build a searchset Bundle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any


def searchset(
    *,
    base_url: str,
    matches: Iterable[dict[str, Any]],
    includes: Iterable[dict[str, Any]] = (),
    self_link: str | None = None,
    total: int | None = None,
    links: list[dict[str, str]] | None = None,
    outcome: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `searchset` Bundle: `matches` with search.mode=match, `includes` with mode=include,
    and an OperationOutcome (mode=outcome) when the search has something to say.

    `total` is the number of all matches (every page); it defaults to the matches given.
    `links` (self/first/next/previous) override `self_link`. `fullUrl` is the absolute URL of
    each resource on this server.
    """
    entries: list[dict[str, Any]] = []
    counted = 0
    for resource in matches:
        counted += 1
        entries.append(_entry(base_url, resource, "match"))
    for resource in includes:
        entries.append(_entry(base_url, resource, "include"))
    if outcome is not None:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{outcome['id']}",
                "resource": outcome,
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": counted if total is None else total,
    }
    if links:
        bundle["link"] = links
    elif self_link:
        bundle["link"] = [{"relation": "self", "url": self_link}]
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle


def _entry(base_url: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def history(*, base_url: str, resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A `history` Bundle of one resource's versions, newest first."""
    entries = [
        {
            "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "request": {
                "method": "POST" if r.get("meta", {}).get("versionId") == "1" else "PUT",
                "url": f"{r['resourceType']}/{r['id']}",
            },
        }
        for r in resources
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "history",
        "total": len(entries),
        **({"entry": entries} if entries else {}),
    }
