"""One page of a query ordered by (start, id), found by key (see `provider/paging.py`): the
page, the number of all matches, and how many come before the page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from uec_booking.provider.paging import Cursor, Key, Page


def where_given(query: Select[Any], *conditions: ColumnElement[bool] | None) -> Select[Any]:
    """`query` narrowed by each condition given (a filter the caller left out is None)."""
    given = [c for c in conditions if c is not None]
    return query.where(*given) if given else query


def _after(
    start: InstrumentedAttribute[Any], ident: InstrumentedAttribute[Any], key: Key
) -> ColumnElement[bool]:
    return or_(start > key[0], and_(start == key[0], ident > key[1]))


def _before(
    start: InstrumentedAttribute[Any], ident: InstrumentedAttribute[Any], key: Key
) -> ColumnElement[bool]:
    return or_(start < key[0], and_(start == key[0], ident < key[1]))


async def count(session: AsyncSession, query: Select[Any]) -> int:
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)


async def keyset_page(
    session: AsyncSession,
    query: Select[Any],
    start: InstrumentedAttribute[Any],
    ident: InstrumentedAttribute[Any],
    *,
    cursor: Cursor | None,
    size: int,
    scalars: bool = False,
) -> Page[Any]:
    """The page of `query` (unordered, unlimited) that `cursor` names."""
    if cursor is None:
        page_query = query.order_by(start, ident).limit(size)
    elif cursor.after:
        page_query = (
            query.where(_after(start, ident, cursor.key)).order_by(start, ident).limit(size)
        )
    else:
        page_query = (
            query.where(_before(start, ident, cursor.key))
            .order_by(start.desc(), ident.desc())
            .limit(size)
        )
    result = await session.execute(page_query)
    items = list(result.scalars().all() if scalars else result.all())
    if cursor is not None and not cursor.after:
        items.reverse()
    total = await count(session, query)
    if cursor is None:
        before = 0
    elif not items:
        before = total if cursor.after else 0
    else:
        first_key: Key = (getattr(items[0], start.key), getattr(items[0], ident.key))
        before = await count(session, query.where(_before(start, ident, first_key)))
    return Page(items, total, before)
