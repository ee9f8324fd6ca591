"""`uec-booking report`: the standard's reporting metrics for a date range, either side."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from uec_booking.cli_errors import UserError
from uec_booking.cli_options import options
from uec_booking.reporting import Metric, consumer_metrics, provider_metrics, window_text


class Side(StrEnum):
    CONSUMER = "consumer"
    PROVIDER = "provider"


class MetricsFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def metrics_for(
    side: Side, start: datetime, end: datetime, *, journal_url: str, db_url: str
) -> list[Metric]:
    if side is Side.CONSUMER:
        from uec_booking.consumer.journal import Journal

        journal = Journal(journal_url)
        try:
            return consumer_metrics(journal.events(start, end))
        finally:
            journal.close()
    from uec_booking.provider.report import counts
    from uec_booking.provider.store import Store
    from uec_booking.provider.store.migrate import upgrade

    upgrade(db_url)

    async def run() -> dict[str, int]:
        store = Store(db_url)
        try:
            return await counts(store, start, end)
        finally:
            await store.dispose()

    return provider_metrics(asyncio.run(run()))


def render(metrics: list[Metric], fmt: MetricsFormat, title: str) -> str:
    if fmt is MetricsFormat.JSON:
        return json.dumps(
            {
                "window": title,
                "metrics": [
                    {
                        "id": m.id,
                        "requirement": m.requirement,
                        "available": m.available,
                        "figures": m.figures,
                        **({"note": m.note} if m.note else {}),
                    }
                    for m in metrics
                ],
            },
            indent=2,
        )
    if fmt is MetricsFormat.CSV:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "requirement", "figures"])
        for m in metrics:
            writer.writerow([m.id, m.requirement, m.summary()])
        return out.getvalue()
    table = Table(title=f"UEC booking metrics, {title}")
    for column in ("id", "requirement", "figures"):
        table.add_column(column)
    for m in metrics:
        table.add_row(
            m.id, m.requirement, m.summary() if m.available else "[dim]not visible to this side[/]"
        )
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(table)
    return console.export_text()


@options("report")
def report(
    date_from: datetime,
    date_to: datetime | None,
    side: Side,
    fmt: MetricsFormat,
    journal: str,
    db: str,
    config: Path | None,
) -> None:
    """Report the standard's booking metrics (rep-cons-* and rep-prov-*) over a date range."""
    from uec_booking.provider.cli import manifest_store, store_url

    start = date_from.replace(tzinfo=UTC)
    end = date_to.replace(tzinfo=UTC) if date_to else start + timedelta(days=1)
    if end <= start:
        raise UserError(
            f"--to ({end:%Y-%m-%d %H:%M}) must be after --from ({start:%Y-%m-%d %H:%M})"
        )
    if side is Side.CONSUMER:
        if config is not None:
            from uec_booking.consumer.config import load_config

            journal = load_config(config).journal_db
        if not journal:
            raise UserError("this consumer keeps no journal (journal_db is empty)")
        journal = store_url(journal, existing=True)
    else:
        is_manifest = config is not None and config.read_text(encoding="utf-8").lstrip().startswith(
            "{"
        )
        db = store_url(manifest_store(config if is_manifest else None, db), existing=True)
    metrics = metrics_for(side, start, end, journal_url=journal, db_url=db)
    typer.echo(render(metrics, fmt, window_text(start, end)))
