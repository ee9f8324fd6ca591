"""A bounded HTTP/1.1 load generator: keep-alive connections on raw asyncio sockets, spread
over separate processes so the client is not what limits the server."""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: Counter[int]
    latencies: list[float] = field(repr=False)
    cpu_ms: float = float("nan")  # the server's CPU time per request (bench.scenarios)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400 or status < 0)


def http_request(
    method: str,
    host: str,
    port: int,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/fhir+json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines += ["Content-Type: application/fhir+json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str, port: int, requests: list[bytes], deadline: float, out: list[tuple[int, float]]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for raw in requests:
            if time.perf_counter() > deadline:
                break
            started = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                out.append((-1, time.perf_counter() - started))
                break
            out.append((status, time.perf_counter() - started))
    finally:
        writer.close()


def _process(args: tuple[str, int, list[list[bytes]], float]) -> list[tuple[int, float]]:
    host, port, per_connection, seconds = args

    async def run() -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_connection(host, port, reqs, deadline, out) for reqs in per_connection)
        )
        return out

    return asyncio.run(run())


def run_load(
    host: str,
    port: int,
    requests_per_connection: list[list[bytes]],
    *,
    seconds: float,
    processes: int = 2,
) -> LoadResult:
    """Send each connection's requests in order until they run out or `seconds` pass."""
    groups: list[list[list[bytes]]] = [[] for _ in range(processes)]
    for i, reqs in enumerate(requests_per_connection):
        groups[i % processes].append(reqs)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_process, [(host, port, g, seconds) for g in groups])
    elapsed = min(time.perf_counter() - started, seconds + 5)
    merged = [r for part in results for r in part]
    return LoadResult(
        len(merged),
        elapsed if elapsed < seconds else seconds,
        Counter(s for s, _ in merged),
        [t for _, t in merged],
    )
