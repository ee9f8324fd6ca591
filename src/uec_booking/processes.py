"""Our servers as child processes through the real CLI, for the tests and the benchmarks
that need separate processes (several workers, SIGKILL, restarts, an SSP in front)."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from uec_booking import sample_data
from uec_booking.netutil import free_port, wait_for_port

# Each child's output goes to a file, never to a pipe nobody reads while it runs: a full
# pipe blocks the child at its next write (one long traceback is enough).
_logs: weakref.WeakKeyDictionary[subprocess.Popen[bytes], IO[bytes]] = weakref.WeakKeyDictionary()


def output(proc: subprocess.Popen[bytes]) -> str:
    """What the (running) child has printed so far."""
    log = _logs.get(proc)
    if log is None:
        return ""
    log.flush()
    return os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode(errors="replace")


def _output(proc: subprocess.Popen[bytes]) -> str:
    """What the (ended) child printed; its log file is closed."""
    log = _logs.pop(proc, None)
    if log is None:
        return ""
    with log:
        log.seek(0)
        return log.read().decode(errors="replace")


def start_provider(
    db_url: str,
    workers: int = 1,
    env: dict[str, str] | None = None,
    *,
    flags: tuple[str, ...] = (),
    verify: ssl.SSLContext | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`uec-booking serve provider --no-auth FLAGS` on a free port; returns it and its FHIR
    base URL once it answers `/_health` (over https with `verify`, for `--tls-cert`)."""
    port = free_port()
    root = f"{'https' if verify else 'http'}://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `_output` once the child ends)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "serve",
            "provider",
            "--port",
            str(port),
            "--db",
            db_url,
            "--workers",
            str(workers),
            "--no-auth",
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # The request log off unless asked for (quiet benchmarks and tests).
        env={**os.environ, "PYTHONUNBUFFERED": "1", "UEC_ACCESS_LOG": "false", **(env or {})},
    )
    _logs[proc] = log
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            health = httpx.get(f"{root}/_health", verify=verify or True, timeout=2)
            if health.status_code == 200:
                return proc, f"{root}/fhir"
        except httpx.TransportError:
            time.sleep(0.2)
    # Never answered: say so with what it printed, rather than hand back a dead server.
    proc.kill()
    proc.wait()
    raise RuntimeError(
        f"provider on port {port} never answered /_health (exit {proc.returncode}):\n"
        f"{_output(proc)}"
    )


def stop(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM, wait, and return what it printed; raises if it did not stop cleanly."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    text = (out.decode() if out else "") + _output(proc)
    # uvicorn re-raises SIGTERM once its graceful shutdown is done: -15 is a clean exit too.
    if proc.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"did not shut down cleanly ({proc.returncode}):\n{text}")
    return text


@contextmanager
def ssp_in_front_of(provider_base: str) -> Iterator[str]:
    """A real SSP (its own process) checking targets against a real SDS that registers
    `provider_base` for the sample provider; yields the SSP's base URL."""
    from uec_booking.spine.sds import start_embedded_sds
    from uec_booking.spine.sds_ldif import build_ldif

    ldif = build_ldif(sample_data.load(), provider_endpoint=provider_base)
    sds = start_embedded_sds(ldif, "127.0.0.1", free_port())
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "serve",
            "ssp",
            "--port",
            str(port),
            "--sds-url",
            sds.url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        sds.stop()
