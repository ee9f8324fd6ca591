"""The one way to build a searchset Bundle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson


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
    bundle = _searchset_head(counted if total is None else total, self_link, links)
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle


def searchset_json(
    *,
    entries_json: bytes,
    total: int,
    links: list[dict[str, str]] | None = None,
) -> bytes:
    """The JSON of `searchset(...)` with its entries already rendered (`searchset_entries`):
    the same bytes, without serialising ~100 resources again. No outcome entry: a search
    with something to say goes through `searchset`."""
    head = orjson.dumps(_searchset_head(total, None, links))
    if not entries_json:
        return head
    return b"".join((head[:-1], b',"entry":[', entries_json, b"]}"))


def searchset_entries(
    *,
    base_url: str,
    matches: Sequence[dict[str, Any]],
    matches_json: Sequence[bytes],
    includes: Sequence[dict[str, Any]] = (),
    includes_json: Sequence[bytes] = (),
) -> bytes:
    """A searchset's entries as JSON (comma-separated, as in `Bundle.entry`), each `*_json`
    item the orjson form of the resource beside it."""
    entries = [
        _entry_json(base_url, r, j, b"match") for r, j in zip(matches, matches_json, strict=True)
    ]
    entries += [
        _entry_json(base_url, r, j, b"include")
        for r, j in zip(includes, includes_json, strict=True)
    ]
    return b",".join(entries)


def _searchset_head(
    total: int, self_link: str | None, links: list[dict[str, str]] | None
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": total,
    }
    if links:
        bundle["link"] = links
    elif self_link:
        bundle["link"] = [{"relation": "self", "url": self_link}]
    return bundle


def _entry_json(base_url: str, resource: dict[str, Any], rendered: bytes, mode: bytes) -> bytes:
    full_url = orjson.dumps(f"{base_url}/{resource['resourceType']}/{resource['id']}")
    return b"".join(
        (b'{"fullUrl":', full_url, b',"resource":', rendered, b',"search":{"mode":"', mode, b'"}}')
    )


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
