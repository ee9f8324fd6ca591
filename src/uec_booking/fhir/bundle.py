"""The one way to build a searchset Bundle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any, Protocol, TypeVar

import orjson

from uec_booking.fhir.formats import Format
from uec_booking.fhir.xml import to_xml, xml_text


class _Sized(Protocol):
    def __len__(self) -> int: ...


Entries = TypeVar("Entries", bound=_Sized)


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
    return b"".join(searchset_json_pieces(entries=entries_json, total=total, links=links))


def searchset_json_pieces(
    *, entries: Entries, total: int, links: list[dict[str, str]] | None = None
) -> list[bytes | Entries]:
    """`searchset_json` in pieces, the entries left as given (bytes, or bytes already
    compressed with them, which a gzipped answer joins as they are): head, entries, end."""
    head = orjson.dumps(_searchset_head(total, None, links))
    if not entries:
        return [head]
    return [head[:-1] + b',"entry":[', entries, b"]}"]


def searchset_xml_pieces(
    *, entries: Entries, total: int, links: list[dict[str, str]] | None = None
) -> list[bytes | Entries]:
    """`searchset_json_pieces` in FHIR XML: the head rendered, the entries (`searchset_entries`
    with `Format.XML`) put in before its end tag, where `Bundle.entry` comes last."""
    head = to_xml(_searchset_head(total, None, links))
    end = b"</Bundle>"
    if not head.endswith(end):  # to_xml writes the head's id, type and total as children
        raise ValueError("a searchset head must render with an end tag")
    return [head[: -len(end)], entries, end]


def searchset_xml(
    *,
    entries_xml: bytes,
    total: int,
    links: list[dict[str, str]] | None = None,
) -> bytes:
    """`searchset_xml_pieces` joined."""
    pieces = searchset_xml_pieces(entries=entries_xml, total=total, links=links)
    return b"".join(p for p in pieces if isinstance(p, bytes))


def searchset_entries(
    *,
    base_url: str,
    matches: Sequence[dict[str, Any]],
    matches_rendered: Sequence[bytes],
    includes: Sequence[dict[str, Any]] = (),
    includes_rendered: Sequence[bytes] = (),
    fmt: Format = Format.JSON,
) -> bytes:
    """A searchset's entries in `fmt` (JSON: comma-separated, as in `Bundle.entry`; XML: the
    `entry` elements), each `*_rendered` item the resource beside it already in `fmt`
    (`dumps` for JSON, `resource_xml` for XML)."""
    entry = _entry_json if fmt is Format.JSON else _entry_xml
    entries = [
        entry(base_url, r, rendered, b"match")
        for r, rendered in zip(matches, matches_rendered, strict=True)
    ]
    entries += [
        entry(base_url, r, rendered, b"include")
        for r, rendered in zip(includes, includes_rendered, strict=True)
    ]
    return (b"," if fmt is Format.JSON else b"").join(entries)


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
    full_url = orjson.dumps(_full_url(base_url, resource))
    return b"".join(
        (b'{"fullUrl":', full_url, b',"resource":', rendered, b',"search":{"mode":"', mode, b'"}}')
    )


def _entry_xml(base_url: str, resource: dict[str, Any], rendered: bytes, mode: bytes) -> bytes:
    full_url = escape(xml_text(_full_url(base_url, resource)), quote=True).encode()
    return b"".join(
        (
            b'<entry><fullUrl value="',
            full_url,
            b'"/><resource>',
            rendered,
            b'</resource><search><mode value="',
            mode,
            b'"/></search></entry>',
        )
    )


def _full_url(base_url: str, resource: dict[str, Any]) -> str:
    return f"{base_url}/{resource['resourceType']}/{resource['id']}"


def _entry(base_url: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": _full_url(base_url, resource),
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
