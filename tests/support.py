"""Test helpers: fresh PostgreSQL databases and the SQLite/PostgreSQL store matrix."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from uec_booking.netutil import wait_for_port

PG_URL = os.environ.get("UEC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not (after trying to start it)."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        reason = str(exc).strip()
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
        )
        try:
            with psycopg.connect(PG_URL, connect_timeout=5):
                return None
        except psycopg.OperationalError as exc:
            reason = str(exc).strip()
    return reason


PG_UNAVAILABLE = _pg_available()


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (dropped afterwards); yields its URL."""
    name = f"uec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


HAPROXY_CFG = Path(__file__).resolve().parents[1] / "deploy" / "haproxy.cfg"


@contextmanager
def haproxy(bind: str, *backends: str) -> Iterator[None]:
    """Debian's HAProxy with the shipped `deploy/haproxy.cfg`: `bind` as `UEC_LB_BIND`
    ("127.0.0.1:PORT [ssl …]"), the two `host:port` backends (one given: in both slots)."""
    first, second = (backends * 2)[:2]
    env = {**os.environ, "UEC_LB_BIND": bind, "UEC_PROVIDER_1": first, "UEC_PROVIDER_2": second}
    lb = subprocess.Popen(
        ["haproxy", "-db", "-f", str(HAPROXY_CFG)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_for_port("127.0.0.1", int(bind.split()[0].rsplit(":", 1)[1]), timeout=30)
        except Exception:
            lb.kill()
            raise AssertionError(lb.communicate(timeout=10)[1].decode()) from None
        yield
    finally:
        lb.terminate()
        lb.communicate(timeout=30)
