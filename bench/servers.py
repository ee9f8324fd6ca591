"""Servers the benchmarks measure, each in its own process on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from uec_booking.netutil import free_port, wait_for_port
from uec_booking.processes import start_provider, stop

# The process serving each port, for `cpu_seconds`.
SERVING: dict[int, int] = {}


def cpu_seconds(port: int) -> float:
    """CPU time used so far by the server on `port` and its worker processes: a figure a
    machine shared with other work does not move the way it moves throughput."""
    tick = os.sysconf("SC_CLK_TCK")
    pending, total = [SERVING[port]], 0
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pending += [int(c) for c in f.read().split()]
        except OSError:
            continue  # gone meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / tick


HELLO_APP = """
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
app = FastAPI()
@app.get("/hello")
async def hello():
    return ORJSONResponse({"hello": "world"})
"""


@contextmanager
def process(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    SERVING[port] = proc.pid
    try:
        wait_for_port("127.0.0.1", port, timeout=60)
        time.sleep(0.5)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@contextmanager
def provider(db_url: str, workers: int = 1, *, views: bool = True) -> Iterator[int]:
    """`serve provider`; `views=False` turns the slot views off (every search reads the tables)."""
    proc, base = start_provider(
        db_url, workers, env=None if views else {"UEC_SLOT_CACHE_VIEWS": "0"}
    )
    port = int(base.split(":")[2].split("/")[0])
    SERVING[port] = proc.pid
    try:
        yield port
    finally:
        stop(proc)


def _uvicorn(app: str, port: int, workers: int, *more: str) -> list[str]:
    """uvicorn as the provider runs it (uvloop, httptools, no access log): the baselines and
    ceilings are measured on the same server settings as the figure they stand against."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        *more,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


@contextmanager
def hello(workers: int = 1) -> Iterator[int]:
    """The baseline: a hello-world JSON endpoint on the same framework, server and workers."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "bench_hello.py"), "w") as f:
            f.write(HELLO_APP)
        port = free_port()
        with process(_uvicorn("bench_hello:app", port, workers), port, env={"PYTHONPATH": tmp}):
            yield port


@contextmanager
def ceiling(factory: str, env: dict[str, str], workers: int = 1) -> Iterator[int]:
    """A ceiling app of `bench/ceilings.py` under uvicorn, as the provider runs (uvloop,
    httptools, no access log)."""
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = _uvicorn(f"bench.ceilings:{factory}", port, workers, "--factory", "--app-dir", root)
    with process(args, port, env=env):
        yield port
