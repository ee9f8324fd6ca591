"""The steps of docs/DEPLOYMENT.md that a test can take: creating the database (and saying
clearly why it cannot), migrations on upgrade, the container's entry point, the systemd
units, and a pg_dump/pg_restore round trip of a store with bookings."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, appointment, search_free
from tests.support import PG_URL
from uec_booking.asgi_server import ThreadedServer
from uec_booking.cli import app as cli
from uec_booking.netutil import free_port, wait_for_port
from uec_booking.processes import start_provider, stop
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store.db import sync_url
from uec_booking.provider.store.migrate import alembic_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TABLES = (
    "directory_resource",
    "slot",
    "appointment",
    "appointment_version",
    "audit_event",
    "change_epoch",
)


def _admin(sql: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def missing_db(pg_url: str) -> Iterator[str]:
    """The URL of a database that does not exist yet (dropped afterwards if created)."""
    name = f"uec_test_new_{uuid.uuid4().hex[:10]}"
    yield f"{PG_URL.rpartition('/')[0]}/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def head_revision(db_url: str) -> str:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        found = str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    engine.dispose()
    return found


def script_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite:///x")).get_current_head()
    assert head is not None
    return head


def test_db_create_makes_the_database_once(missing_db: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "create", "--db", missing_db])
    assert first.exit_code == 0, first.output
    assert "created database" in first.output
    again = runner.invoke(cli, ["db", "create", "--db", missing_db])
    assert again.exit_code == 0 and "created database" not in again.output
    assert head_revision(missing_db) == script_head()


def test_serve_provider_creates_a_missing_database_and_serves_from_it(missing_db: str) -> None:
    """DEPLOYMENT.md §2: a first `serve provider` on a database that does not exist yet makes
    it, migrates it and answers, with no `db create` before it."""
    proc, base = start_provider(missing_db, workers=2)
    try:
        assert head_revision(missing_db) == script_head()
        assert httpx.get(f"{base}/metadata", timeout=10).status_code == 200
        ready = httpx.get(base.removesuffix("/fhir") + "/_ready", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        stop(proc)


def test_db_create_says_what_to_run_when_it_may_not(pg_url: str) -> None:
    role = f"uec_nocreate_{uuid.uuid4().hex[:8]}"
    name = f"uec_test_never_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        url = f"postgresql://{role}@127.0.0.1:5432/{name}"
        result = CliRunner().invoke(cli, ["db", "create", "--db", url])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"createdb -O {role} {name}" in lines[0], result.output
        down = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
        unreachable = CliRunner().invoke(cli, ["db", "create", "--db", down])
        assert unreachable.exit_code == 2 and "cannot reach PostgreSQL" in unreachable.output
    finally:
        _admin(f'DROP ROLE IF EXISTS "{role}"')


def test_migrations_on_upgrade_keep_the_data(pg_url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(pg_url), "0001_booking_store")
    engine = create_engine(sync_url(pg_url))
    with engine.begin() as conn:
        conn.execute(
            text(
                'INSERT INTO slot (id, schedule_id, healthcare_service_id, start, "end", '
                "status, version_id, updated_at) VALUES ('s1', 'sch', 'svc', now(), now(), "
                "'free', 1, now())"
            )
        )
    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", pg_url])
    assert result.exit_code == 0, result.output
    assert head_revision(pg_url) == script_head()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM slot WHERE id='s1'")).scalar_one() == "free"
    engine.dispose()


def test_the_container_entry_point_creates_the_database_and_serves(
    missing_db: str, tmp_path: Path
) -> None:
    entry = DEPLOY / "docker-entrypoint.sh"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY deploy/docker-entrypoint.sh /usr/local/bin/uec-provider-entrypoint" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/uec-provider-entrypoint"]' in dockerfile
    assert os.access(entry, os.X_OK)
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    unset = subprocess.run(
        ["sh", str(entry)], env={"PATH": path}, capture_output=True, text=True, timeout=60
    )
    assert unset.returncode != 0 and "set UEC_DB_URL" in unset.stderr

    port = free_port()
    env = {
        **os.environ,
        "PATH": path,
        "UEC_DB_URL": missing_db,
        "UEC_HOST": "127.0.0.1",
        "UEC_PORT": str(port),
        "UEC_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        ["sh", str(entry), "--no-auth", "--no-access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=90)
        ready = httpx.get(f"http://127.0.0.1:{port}/_ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)  # sh exec'd: this is uec-booking itself
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), out.decode()
    assert "created database" in out.decode()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "uec-booking"
    for unit in (DEPLOY / "systemd").iterdir():
        body = unit.read_text(encoding="utf-8")
        (tmp_path / unit.name).write_text(
            body.replace("/opt/uec-booking/bin/uec-booking", str(binary)), encoding="utf-8"
        )
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # Every uec-booking command line in them is one the CLI accepts.
    for unit in units:
        for line in Path(unit).read_text(encoding="utf-8").splitlines():
            match = re.match(rf"Exec\w*={re.escape(str(binary))} (.*)", line)
            if match:
                args = [*match.group(1).split(), "--help"]
                assert CliRunner().invoke(cli, args).exit_code == 0, line


def table_rows(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        found = {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2")).all()]
            for t in TABLES
        }
    engine.dispose()
    return found


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="no pg_dump")
def test_backup_and_restore_round_trip(pg_url: str, missing_db: str, tmp_path: Path) -> None:
    seed_db(pg_url, days=2)
    settings = ProviderSettings(db_url=pg_url, auth_mode=AuthMode.OFF)
    with ThreadedServer(create_app(settings)) as server, httpx.Client(timeout=30) as client:
        base = f"{server.url}/fhir"
        free = search_free(client, base)
        booked = [
            client.post(f"{base}/Appointment", json=appointment(s), headers=FHIR_JSON).json()
            for s in free[:3]
        ]
    dump = tmp_path / "provider.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--dbname={pg_url}", f"--file={dump}"],
        check=True,
        timeout=120,
    )
    name = missing_db.rsplit("/", 1)[1]
    _admin(f'CREATE DATABASE "{name}"')
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={missing_db}", str(dump)],
        check=True,
        timeout=120,
    )
    assert table_rows(missing_db) == table_rows(pg_url)
    restored = ProviderSettings(db_url=missing_db, auth_mode=AuthMode.OFF)
    with ThreadedServer(create_app(restored)) as server, httpx.Client(timeout=30) as client:
        base = f"{server.url}/fhir"
        for appt in booked:
            read = client.get(f"{base}/Appointment/{appt['id']}")
            assert read.status_code == 200 and read.json() == appt
        # The constraints came back too: a restored booked slot cannot be booked again.
        again = client.post(f"{base}/Appointment", json=appointment(free[0]), headers=FHIR_JSON)
        assert again.status_code == 422
        assert (
            client.post(
                f"{base}/Appointment", json=appointment(free[3]), headers=FHIR_JSON
            ).status_code
            == 201
        )
