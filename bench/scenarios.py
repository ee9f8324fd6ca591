"""The measurements. Each returns a row: what, figure, baseline, ratio, target, met."""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from sqlalchemy import create_engine, text

from bench.loadgen import LoadResult, http_request
from bench.loadgen import run_load as _run_load
from bench.servers import ceiling, cpu_seconds, hello, provider
from uec_booking.provider.store.db import sync_url

SERVICE = "2000100001"
INCLUDES = [
    "Slot:schedule",
    "Schedule:actor:Practitioner",
    "Schedule:actor:Location",
    "Schedule:actor:HealthcareService",
]


def run_load(host: str, port: int, requests: list[list[bytes]], *, seconds: float) -> LoadResult:
    """`loadgen.run_load`, with the server's CPU time per request it answered."""
    before = cpu_seconds(port)
    load = _run_load(host, port, requests, seconds=seconds)
    load.cpu_ms = (cpu_seconds(port) - before) * 1000 / max(load.requests, 1)
    return load


def details(result: LoadResult) -> dict[str, Any]:
    """A load's latencies, errors and CPU, as every row reports them."""
    return {
        "p50_ms": round(result.p50_ms, 1),
        "p99_ms": round(result.p99_ms, 1),
        "errors": result.errors,
        "cpu_ms": round(result.cpu_ms, 3),
    }


def against_ceiling(top: LoadResult, to_ceiling: float) -> dict[str, Any]:
    """How far a figure stands below its ceiling app (the target allows 1.5x)."""
    return {"ceiling": round(top.rps, 1), "ceiling_over_figure": round(to_ceiling, 2)}


def search_path(days: int = 7) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    params = [
        ("status", "free"),
        ("start", f"ge{now.isoformat()}"),
        ("start", f"le{(now + timedelta(days=days)).isoformat()}"),
        ("schedule.actor:healthcareservice", SERVICE),
        ("_count", "100"),
    ] + [("_include", i) for i in INCLUDES]
    return "/fhir/Slot?" + urlencode(params)


def row(
    what: str,
    measure: str,
    figure: float,
    baseline: float | None,
    target: str,
    met: bool | None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "what": what,
        "measure": measure,
        "figure": round(figure, 2),
        "baseline": None if baseline is None else round(baseline, 2),
        "ratio": None if not baseline else round(figure / baseline, 3),
        "target": target,
        "met": met,
        **extra,
    }


def _search_load(
    db_url: str, seconds: float, connections: int, *, views: bool, workers: int = 1
) -> tuple[LoadResult, bytes]:
    path = search_path()
    with provider(db_url, workers=workers, views=views) as port:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}").content
        matches = [e for e in orjson.loads(answer)["entry"] if e["search"]["mode"] == "match"]
        assert len(matches) >= 50, f"the search returns only {len(matches)} slots"
        request = http_request("GET", "127.0.0.1", port, path)
        run_load("127.0.0.1", port, [[request] * 20] * 4, seconds=1)
        load = run_load("127.0.0.1", port, [[request] * 100000] * connections, seconds=seconds)
        return load, answer


def _bytes_load(port: int, path: str, seconds: float, connections: int) -> LoadResult:
    request = http_request("GET", "127.0.0.1", port, path)
    run_load("127.0.0.1", port, [[request] * 50] * 4, seconds=1)  # warm up
    return run_load("127.0.0.1", port, [[request] * 100000] * connections, seconds=seconds)


def slot_search_vs_hello(db_url: str, seconds: float) -> list[dict[str, Any]]:
    connections = 32
    with hello() as port:
        base = _bytes_load(port, "/hello", seconds, connections)
    load, answer = _search_load(db_url, seconds, connections, views=True)
    with tempfile.NamedTemporaryFile(suffix=".json") as body:
        body.write(answer)
        body.flush()
        with ceiling("search_app", {"UEC_CEILING_BODY": body.name}) as port:
            top = _bytes_load(port, search_path(), seconds, connections)
    tables, _ = _search_load(db_url, seconds, connections, views=False)
    four, _ = _search_load(db_url, seconds, connections, views=True, workers=4)
    ratio = load.rps / base.rps
    to_ceiling = top.rps / load.rps

    return [
        row(
            "Slot search, 7 days of one service (JSON, with includes)",
            "req/s at 32 clients",
            load.rps,
            base.rps,
            ">= 40 % of hello-world req/s, or within 1.5x of the ceiling",
            (ratio >= 0.40 or to_ceiling <= 1.5) and load.errors == 0,
            **details(load),
            baseline_p50_ms=round(base.p50_ms, 1),
            baseline_p99_ms=round(base.p99_ms, 1),
            **against_ceiling(top, to_ceiling),
        ),
        row(
            "Slot search ceiling: Starlette answering the same bytes, pre-built",
            "req/s at 32 clients",
            top.rps,
            base.rps,
            "- (what the provider's search is held to)",
            None,
            **details(top),
        ),
        row(
            "Slot search latency",
            "p99 ms at 32 clients",
            load.p99_ms,
            None,
            "< 50 ms",
            load.p99_ms < 50,
        ),
        row(
            "Slot search with the workers' views off (every search reads the tables)",
            "req/s at 32 clients",
            tables.rps,
            base.rps,
            "- (before/after: the views' effect)",
            None,
            **details(tables),
        ),
        row(
            "Slot search, 4 workers",
            "req/s at 32 clients",
            four.rps,
            base.rps,
            "- (scaling on 2 cores)",
            None,
            **details(four),
        ),
    ]


def _appointment(slot_id: str, start: str, end: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": start,
            "end": end,
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "contained": [
                {
                    "resourceType": "Patient",
                    "id": "P1",
                    "identifier": [
                        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}
                    ],
                }
            ],
            "participant": [{"actor": {"reference": "#P1"}, "status": "accepted"}],
        }
    )


def booking_vs_pgbench(
    db_url: str, pg_admin_url: str, bench_db: str, seconds: float
) -> list[dict[str, Any]]:
    clients = 16
    conninfo = re.sub(r"^postgresql\+?\w*://", "", pg_admin_url)
    user_host, _, _ = conninfo.partition("/")
    user, _, hostport = user_host.rpartition("@")
    host, _, port = hostport.partition(":")
    common = ["-h", host, "-p", port or "5432", "-U", user or "postgres"]
    subprocess.run(
        ["pgbench", "-i", "-q", "-s", "1", *common, bench_db], check=True, capture_output=True
    )
    out = subprocess.run(
        [
            "pgbench",
            "-N",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(int(seconds)),
            *common,
            bench_db,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def free_slots() -> list[list[tuple[str, str, str]]]:
        engine = create_engine(sync_url(db_url))
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT id, start, \"end\" FROM slot WHERE status='free' "
                    "AND start > now() + interval '1 minute' ORDER BY id"
                )
            ).all()
        engine.dispose()
        per_client: list[list[tuple[str, str, str]]] = [[] for _ in range(clients)]
        for i, (slot_id, start, end) in enumerate(found):
            per_client[i % clients].append(
                (slot_id, start.isoformat() + "+00:00", end.isoformat() + "+00:00")
            )
        return per_client

    slots_available = sum(len(mine) for mine in free_slots())
    ran_out: list[bool] = []  # per load: it booked every free slot (so it was not measured)

    def book(port: int) -> LoadResult:
        per_client = free_slots()
        requests = [
            [
                http_request("POST", "127.0.0.1", port, "/fhir/Appointment", _appointment(*s))
                for s in mine
            ]
            for mine in per_client
        ]
        load = run_load("127.0.0.1", port, requests, seconds=seconds)
        ran_out.append(load.requests >= sum(len(mine) for mine in per_client))
        return load

    with provider(db_url, workers=2) as p:
        load = book(p)
        answer = httpx.post(
            f"http://127.0.0.1:{p}/fhir/Appointment",
            content=_appointment(*free_slots()[0][0]),
            headers={"Content-Type": "application/fhir+json"},
        ).content
    with tempfile.NamedTemporaryFile(suffix=".json") as body:
        body.write(answer)
        body.flush()
        env = {"UEC_CEILING_BODY": body.name, "UEC_CEILING_DB": db_url}
        with ceiling("booking_app", env, workers=2) as p:
            top = book(p)
    by_workers = {}
    for workers in (1, 4):
        with provider(db_url, workers=workers) as p:
            by_workers[workers] = book(p)
    ratio = load.rps / tps
    to_ceiling = top.rps / load.rps
    return [
        row(
            "Booking (POST Appointment, distinct slots), PostgreSQL, 2 workers",
            "bookings/s at 16 clients",
            load.rps,
            tps,
            ">= 25 % of pgbench simple-update TPS, or within 1.5x of the ceiling; 0 errors",
            (ratio >= 0.25 or to_ceiling <= 1.5)
            and load.errors == 0
            and load.requests > 0
            and not ran_out[0],
            **details(load),
            slots_available=slots_available,
            **against_ceiling(top, to_ceiling),
        ),
        row(
            "Booking ceiling: Starlette + asyncpg, the same statement, the same bytes, 2 workers",
            "bookings/s at 16 clients",
            top.rps,
            tps,
            "- (what the provider's booking is held to)",
            None,
            errors=top.errors,
            p50_ms=round(top.p50_ms, 1),
            cpu_ms=round(top.cpu_ms, 3),
        ),
        *[
            row(
                f"Booking, {workers} worker{'s' if workers > 1 else ''}",
                "bookings/s at 16 clients",
                result.rps,
                tps,
                "- (scaling on 2 cores), 0 errors",
                result.errors == 0 and result.requests > 0 and not out,
                errors=result.errors,
                p50_ms=round(result.p50_ms, 1),
                cpu_ms=round(result.cpu_ms, 3),
            )
            for (workers, result), out in zip(by_workers.items(), ran_out[2:], strict=True)
        ],
    ]


def _thousand_slots_from(lo: datetime) -> str:
    """A search of 14 days of one service from `lo`, up to 1,000 slots, with the includes."""
    window = [
        ("start", f"ge{lo.isoformat()}"),
        ("start", f"le{(lo + timedelta(days=14)).isoformat()}"),
    ]
    return "/Slot?" + urlencode(
        window
        + [("schedule.actor:healthcareservice", SERVICE), ("_count", "1000")]
        + [("_include", i) for i in INCLUDES]
    )


def _sequential_ms(client: httpx.Client, method: str, url: str, n: int, **kwargs: Any) -> float:
    times = []
    for i in range(n):
        body = kwargs.get("bodies", [None] * n)[i]
        started = time.perf_counter()
        response = client.request(method, url, headers=kwargs.get("headers"), content=body)
        times.append(time.perf_counter() - started)
        assert response.status_code < 400, response.text
    times.sort()
    return times[len(times) // 2] * 1000


def _alternating_ms(
    client: httpx.Client,
    method: str,
    urls: tuple[str, str],
    n: int,
    headers: tuple[dict[str, str], dict[str, str]],
    bodies: tuple[list[bytes], list[bytes]] | None = None,
) -> tuple[float, float]:
    """p50 ms of two ways to the same request, taken in turn: one, the other, one... so that
    both see the same machine (a second process waking, a clock stepping) rather than one
    getting a quiet minute and the other a busy one."""
    times: tuple[list[float], list[float]] = ([], [])
    # Parsed once: httpx parses a URL string character by character on every request, and
    # the SSP's is twice as long (it holds the provider's), which is the client's cost.
    parsed = (httpx.URL(urls[0]), httpx.URL(urls[1]))
    for i in range(n):
        for way in (0, 1):
            body = bodies[way][i] if bodies is not None else None
            started = time.perf_counter()
            response = client.request(method, parsed[way], headers=headers[way], content=body)
            times[way].append(time.perf_counter() - started)
            assert response.status_code < 400, response.text
    return tuple(sorted(t)[len(t) // 2] * 1000 for t in times)  # type: ignore[return-value]


def ssp_vs_direct(db_url: str, n: int = 200) -> list[dict[str, Any]]:
    from uec_booking.processes import ssp_in_front_of

    with provider(db_url) as p:
        base = f"http://127.0.0.1:{p}/fhir"
        with ssp_in_front_of(base) as ssp:
            engine = create_engine(sync_url(db_url))
            with engine.connect() as conn:
                slots = conn.execute(
                    text(
                        "SELECT id, start, \"end\" FROM slot WHERE status='free' AND start > now() ORDER BY id LIMIT :n"
                    ),
                    {"n": 4 * n},
                ).all()
            engine.dispose()
            bodies = [
                _appointment(s[0], s[1].isoformat() + "+00:00", s[2].isoformat() + "+00:00")
                for s in slots
            ]
            spine = {
                "Ssp-TraceID": str(uuid.uuid4()),
                "Ssp-From": "200000000201",
                "Ssp-To": "200000000101",
            }
            query = search_path()[len("/fhir") :]
            search_headers = {
                **spine,
                "Ssp-InteractionID": "urn:nhs:names:services:careconnect:fhir:rest:read:slot",
            }
            json_headers = {"Content-Type": "application/fhir+json"}
            book_headers = {
                **spine,
                **json_headers,
                "Ssp-InteractionID": "urn:nhs:names:services:careconnect:fhir:rest:create:appointment",
            }
            with httpx.Client() as client, ceiling("relay_app", {}) as relay_port:
                relay = f"http://127.0.0.1:{relay_port}"
                figures = {}
                for name, front in (("ssp", ssp), ("relay", relay)):
                    searches = (base + query, f"{front}/{base}{query}")
                    found_in = search_headers if name == "ssp" else {}
                    _alternating_ms(client, "GET", searches, 20, ({}, found_in))
                    figures[name, "search"] = _alternating_ms(
                        client, "GET", searches, n, ({}, found_in)
                    )
                    booked = (
                        (bodies[:n], bodies[n : 2 * n])
                        if name == "ssp"
                        else (bodies[2 * n : 3 * n], bodies[3 * n :])
                    )
                    figures[name, "book"] = _alternating_ms(
                        client,
                        "POST",
                        (f"{base}/Appointment", f"{front}/{base}/Appointment"),
                        n,
                        (json_headers, book_headers if name == "ssp" else json_headers),
                        booked,
                    )
    rows = []
    for what, label in (("search", "slot search"), ("book", "booking")):
        direct, via = figures["ssp", what]
        relay_direct, via_relay = figures["relay", what]
        rows.append(
            row(
                f"Through the SSP: {label}",
                "p50 ms via SSP",
                via,
                direct,
                "<= 1.3x direct, or within 1.5x of the bare relay",
                via / direct <= 1.3 or via / via_relay <= 1.5,
                relay_ms=round(via_relay, 2),
                ssp_over_relay=round(via / via_relay, 2),
                ssp_adds_ms=round(via - direct, 2),
                relay_adds_ms=round(via_relay - relay_direct, 2),
            )
        )
    return rows


def store_scale(db_url: str, n: int = 300) -> list[dict[str, Any]]:
    engine = create_engine(sync_url(db_url))
    path = search_path()
    figures: dict[int, float] = {}
    # Views off: this measures the tables' indexes, which a view would hide.
    with provider(db_url, views=False) as p, httpx.Client() as client:
        url = f"http://127.0.0.1:{p}{path}"
        for total in (10_000, 100_000, 1_000_000):
            with engine.begin() as conn:
                have = conn.execute(text("SELECT count(*) FROM slot")).scalar_one()
                if total > have:
                    # Synthetic slots of another service: the measured search still returns the same slots.
                    conn.execute(
                        text(
                            'INSERT INTO slot (id, schedule_id, healthcare_service_id, start, "end", status, version_id, updated_at) '
                            "SELECT 'synthetic-' || g, 'sch-synthetic', 'synthetic-' || (g % 500), "
                            "now() - interval '30 days' + (g || ' minutes')::interval, "
                            "now() - interval '30 days' + ((g + 10) || ' minutes')::interval, "
                            "CASE WHEN g % 3 = 0 THEN 'busy' ELSE 'free' END, 1, now() "
                            "FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) g"
                        ),
                        {"lo": have, "hi": total - 1},
                    )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(
                    text("VACUUM ANALYZE slot")
                )  # so autovacuum does not run mid-measurement
            _sequential_ms(client, "GET", url, 100)
            figures[total] = _sequential_ms(client, "GET", url, n)
    engine.dispose()
    ratio = figures[1_000_000] / figures[10_000]
    return [
        row(
            f"Slot search with {total:,} slots stored (views off)",
            "p50 ms",
            ms,
            figures[10_000],
            "flat: <= 1.2x at 1M",
            ratio <= 1.2 if total == 1_000_000 else True,
        )
        for total, ms in figures.items()
    ]


def token_verification(n: int = 3000) -> list[dict[str, Any]]:
    from uec_booking import sample_data
    from uec_booking.asgi_server import ThreadedServer
    from uec_booking.consumer.auth import ClientCredentialsTokens
    from uec_booking.netutil import free_port
    from uec_booking.spine.auth import ClientRegistry, create_app
    from uec_booking.tokens import TokenVerifier

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    directory = sample_data.load()
    consumer = directory["consumer_systems"][0]
    with ThreadedServer(
        create_app(
            issuer=issuer,
            clients=ClientRegistry.from_directory(directory, providers=["http://provider/fhir"]),
        ),
        port=port,
    ):
        tokens = ClientCredentialsTokens(
            token_url=f"{issuer}/oauth2/token",
            client_id=consumer["client_id"],
            client_secret=consumer["client_secret"],
        )
        token = asyncio.run(tokens.token(audience="http://provider/fhir"))
        verifier = TokenVerifier(
            jwks_url=f"{issuer}/.well-known/jwks.json",
            issuer=issuer,
            audience="http://provider/fhir",
        )

        async def verify_many() -> float:
            await verifier.verify(f"Bearer {token}")
            started = time.perf_counter()
            for _ in range(n):
                await verifier.verify(f"Bearer {token}")
            return time.perf_counter() - started

        elapsed = asyncio.run(verify_many())
    return [
        row(
            "Token verification (RS256, cached JWKS)",
            "verifications/s, one core",
            n / elapsed,
            None,
            "cached JWKS, no network per request",
            verifier.jwks_fetches == 1,
            jwks_fetches=verifier.jwks_fetches,
        )
    ]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def views_memory_and_xml(db_url: str, n: int = 20) -> list[dict[str, Any]]:
    """RSS of one worker with its slot views filled to their default bounds (256 views,
    100,000 slots: distinct services and day ranges searched until one bound is reached),
    and a 1,000-slot search answered in XML against JSON, with `/_health` answered meanwhile."""
    from uec_booking.processes import start_provider, stop

    proc, base = start_provider(db_url, 1)
    try:
        with httpx.Client(timeout=60) as client:
            client.get(f"{base}/metadata")
            empty = _rss_mb(proc.pid)
            today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
            searched = 0
            for width in range(15, 0, -1):
                for day in range(0, 60 - width):
                    for service in ("2000100001", "2000100002", "2000100003"):
                        if searched >= 256:
                            break
                        lo = today + timedelta(days=day)
                        client.get(
                            f"{base}/Slot",
                            params=[
                                ("schedule.actor:healthcareservice", service),
                                ("start", f"ge{lo.isoformat()}"),
                                ("start", f"le{(lo + timedelta(days=width)).isoformat()}"),
                                ("_count", "1"),
                            ],
                        )
                        searched += 1
            full = _rss_mb(proc.pid)
            now = datetime.now(UTC).replace(microsecond=0)
            big = _thousand_slots_from(now)
            sizes = {}
            times: dict[str, float] = {}
            first_ms: dict[str, float] = {}
            for fmt in ("json", "xml"):
                accept = {"Accept": f"application/fhir+{fmt}"}
                started = time.perf_counter()
                answer = client.get(base + big, headers=accept)
                # The first answer renders every fragment; the rest join what it kept.
                first_ms[fmt] = round((time.perf_counter() - started) * 1000, 1)
                # An XML Slot's start tag may carry its xmlns (a fragment joined into the Bundle).
                pattern = r"<Slot[ >]" if fmt == "xml" else r'"resourceType":"Slot"'
                sizes[fmt] = len(re.findall(pattern, answer.text))
                times[fmt] = _sequential_ms(client, "GET", base + big, n, headers=accept)
            # /_health meanwhile, while XML answers are rendered cold (a window of days no
            # search has rendered yet: every fragment made anew), one after another.
            health: list[float] = []
            cold_renders = 0
            with httpx.Client(timeout=60) as other:
                done = threading.Event()

                def xml_load() -> None:
                    nonlocal cold_renders
                    for day in range(15, 200):
                        if done.is_set():
                            return
                        cold = _thousand_slots_from(now + timedelta(days=day))
                        other.get(base + cold, headers={"Accept": "application/fhir+xml"})
                        cold_renders += 1

                loader = threading.Thread(target=xml_load)
                loader.start()
                try:
                    time.sleep(0.2)
                    root = base.removesuffix("/fhir")
                    for _ in range(50):
                        started = time.perf_counter()
                        client.get(f"{root}/_health")
                        health.append((time.perf_counter() - started) * 1000)
                        time.sleep(0.01)
                finally:
                    done.set()
                    loader.join()
    finally:
        stop(proc)
    health.sort()
    ratio = times["xml"] / times["json"]
    return [
        row(
            "RSS of one worker, slot views filled (defaults: 256 views / 100,000 slots)",
            "MB",
            full,
            empty,
            "- (reported)",
            None,
            views_searched=searched,
        ),
        row(
            f"XML of a {sizes['xml']}-slot search (JSON: {sizes['json']} slots)",
            "p50 ms, served",
            times["xml"],
            times["json"],
            "<= 3x JSON, rendered off the event loop",
            # Off the event loop: /_health answers in a fraction of one cold render.
            ratio <= 3 and health[len(health) // 2] < first_ms["xml"] / 4,
            first_ms_json=first_ms["json"],
            first_ms_xml=first_ms["xml"],
            health_p50_ms_during_xml=round(health[len(health) // 2], 1),
            health_max_ms_during_xml=round(health[-1], 1),
            cold_xml_renders_meanwhile=cold_renders,
        ),
    ]
