"""Search paging by key, not by offset: a page cursor names the (start, id) of the match it
follows or precedes, so a page stays correct while slots are booked between requests (an
offset would skip a match whenever one before it stops matching).

`_page` carries the cursor, opaque to clients (base64url of `[direction, start, id]`);
`Bundle.total` counts every match, whatever the page; `link` has `self`, `first`, and
`next`/`previous` when there are matches that way.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

import orjson

from uec_booking.fhir.errors import BadRequest

PAGE_PARAMETER = "_page"
T = TypeVar("T")
Key = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class Cursor:
    after: bool  # True: the matches after `key`; False: the matches before it
    key: Key

    def encode(self) -> str:
        raw = orjson.dumps(["a" if self.after else "b", self.key[0].isoformat(), self.key[1]])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            direction, start, ident = orjson.loads(raw)
            if direction not in ("a", "b") or not isinstance(ident, str):
                raise ValueError(direction)
            return cls(direction == "a", (datetime.fromisoformat(start), ident))
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise BadRequest(
                f"'{value}' is not a page cursor this server gave out", expression=PAGE_PARAMETER
            ) from exc


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int  # every match, on any page
    before: int  # matches ordered before the first item of this page


def page_of(
    matches: Sequence[T], key: Callable[[T], Key], cursor: Cursor | None, size: int
) -> Page[T]:
    """The page of `matches` (sorted by `key`) that `cursor` names."""
    return page_in(matches, [key(m) for m in matches], cursor, size)


def page_in(
    items: Sequence[T],
    keys: Sequence[Key],
    cursor: Cursor | None,
    size: int,
    lo: int = 0,
    hi: int | None = None,
) -> Page[T]:
    """The page of the matches `items[lo:hi]` (sorted, `keys` theirs) that `cursor` names:
    a view's sorted slots are paged in place, without copying or keying every match."""
    hi = len(items) if hi is None else hi
    if cursor is None:
        first = lo
    elif cursor.after:
        first = bisect_right(keys, cursor.key, lo, hi)
    else:
        first = max(lo, bisect_left(keys, cursor.key, lo, hi) - size)
    last = min(first + size, hi)
    if cursor is not None and not cursor.after:
        last = min(last, bisect_left(keys, cursor.key, lo, hi))
    return Page(list(items[first:last]), hi - lo, first - lo)


@dataclass(frozen=True, slots=True)
class Links:
    self_url: str
    first: str | None = None
    next: str | None = None
    previous: str | None = None

    def as_fhir(self) -> list[dict[str, str]]:
        out = [{"relation": "self", "url": self.self_url}]
        for relation, url in (
            ("first", self.first),
            ("previous", self.previous),
            ("next", self.next),
        ):
            if url:
                out.append({"relation": relation, "url": url})
        return out


def links(url: str, page: Page[T], key: Callable[[T], Key]) -> Links:
    """`self`, `first`, `next` and `previous` for a page of a search made at `url`."""

    parts = urlsplit(url)
    # The query as the client encoded it, but for its page cursor: decoding and encoding it
    # again cost more than the rest of a search answered from a view.
    kept = "&".join(
        p
        for p in parts.query.split("&")
        if p and unquote_plus(p.partition("=")[0]) != PAGE_PARAMETER
    )

    def at(cursor: Cursor | None) -> str:
        query = kept
        if cursor is not None:
            page = urlencode([(PAGE_PARAMETER, cursor.encode())])
            query = f"{kept}&{page}" if kept else page
        return urlunsplit(parts._replace(query=query))

    following = page.before + len(page.items) < page.total and page.items
    preceding = page.before > 0 and page.items
    return Links(
        self_url=url,
        first=at(None) if page.total else None,
        next=at(Cursor(True, key(page.items[-1]))) if following else None,
        previous=at(Cursor(False, key(page.items[0]))) if preceding else None,
    )
