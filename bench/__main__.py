"""`make bench`: seeds a fresh PostgreSQL database, runs every measurement, writes
bench/results/latest.json and latest.md, and prints the table."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import profile as bench_profile
from bench import scenarios
from uec_booking import sample_data
from uec_booking.provider.seed import seed
from uec_booking.provider.store import Store
from uec_booking.provider.store.migrate import upgrade

PG = os.environ.get(
    "UEC_BENCH_PG_URL",
    os.environ.get("UEC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
SECONDS = float(os.environ.get("UEC_BENCH_SECONDS", "8"))
RESULTS = Path(__file__).parent / "results"


def fresh_db(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_db(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seeded(name: str, days: int) -> str:
    url = f"{PG.rpartition('/')[0]}/{name}"
    upgrade(url)

    async def run() -> None:
        store = Store(url)
        try:
            await seed(store, sample_data.load(), first_day=datetime.now(UTC).date(), days=days)
        finally:
            await store.dispose()

    asyncio.run(run())
    return url


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| what | measure | figure | baseline (same run) | ratio | ceiling / figure "
        "| server CPU ms/req | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def shown(value: Any) -> str:
        return "-" if value is None else str(value)

    for r in rows:
        met = "-" if r["met"] is None else "yes" if r["met"] else "NO"
        lines.append(
            f"| {r['what']} | {r['measure']} | {r['figure']} | {shown(r['baseline'])} | "
            f"{shown(r['ratio'])} | {shown(r.get('ceiling_over_figure'))} | "
            f"{shown(r.get('cpu_ms'))} | {r['target']} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    databases: list[str] = []
    try:
        print("seeding PostgreSQL (search, 7 days) ...", flush=True)
        search_db = fresh_db("uec_bench_search")
        databases.append(search_db)
        search_url = seeded(search_db, days=8)
        print("1/5 slot search vs hello-world ...", flush=True)
        rows += scenarios.slot_search_vs_hello(search_url, SECONDS)
        print("2/5 booking vs pgbench ...", flush=True)
        book_db, pgbench_db = fresh_db("uec_bench_book"), fresh_db("uec_bench_pgbench")
        databases += [book_db, pgbench_db]
        # Four booking loads of 8 s, each on distinct slots, at up to ~1,500/s: ~73,000 free
        # slots (260 days ran out in the fourth load once booking passed 1,100/s).
        book_url = seeded(book_db, days=500)
        rows += scenarios.booking_vs_pgbench(book_url, PG, pgbench_db, SECONDS)
        print("   worker memory with full slot views; XML vs JSON ...", flush=True)
        rows += scenarios.views_memory_and_xml(book_url)
        print("3/5 SSP vs direct ...", flush=True)
        ssp_db = fresh_db("uec_bench_ssp")
        databases.append(ssp_db)
        rows += scenarios.ssp_vs_direct(seeded(ssp_db, days=8))
        print("4/5 store scale 10k / 100k / 1M slots ...", flush=True)
        rows += scenarios.store_scale(search_url)
        print("5/5 token verification ...", flush=True)
        rows += scenarios.token_verification()
        print("profiling slot search and booking ...", flush=True)
        profiles = bench_profile.profile(search_url)
    finally:
        for name in databases:
            drop_db(name)
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "seconds_per_load": SECONDS,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (RESULTS / "latest.json").write_text(
        json.dumps({"meta": meta, "results": rows, "profile_ms": profiles}, indent=2) + "\n"
    )
    table = markdown(rows) + bench_profile.report(profiles)
    (RESULTS / "latest.md").write_text(
        f"# Benchmark results ({meta['at']}, {meta['cpus']} CPUs)\n\n{table}"
    )
    print(table)
    print(
        f"bench finished in {meta['total_seconds']}s; results in {RESULTS}/latest.json and latest.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
