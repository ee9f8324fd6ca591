"""The provider's commands as a newcomer runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from uec_booking.provider.store.db import sync_url

DATA = Path(__file__).resolve().parents[1] / "data"


def uec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", *args], capture_output=True, text=True, timeout=120
    )


def test_seed_is_idempotent(db_url: str) -> None:
    first = uec("seed", "--db", db_url, "--days", "3")
    assert first.returncode == 0, first.stderr
    assert "slots added" in first.stdout and " 0 slots added" not in first.stdout
    second = uec("seed", "--db", db_url, "--days", "3")
    assert second.returncode == 0, second.stderr
    assert "0 directory resources written, 0 slots added" in second.stdout
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        services = conn.execute(
            text("SELECT count(*) FROM directory_resource WHERE resource_type='HealthcareService'")
        ).scalar_one()
        orgs = conn.execute(
            text("SELECT count(*) FROM directory_resource WHERE resource_type='Organization'")
        ).scalar_one()
    engine.dispose()
    assert services >= 3 and orgs >= 3


def test_import_the_seeds_example_bundle(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'import.sqlite3'}"
    refused = uec("seed", "--db", db_url, "--from-file", str(DATA / "seed_example_bundle.json"))
    assert refused.returncode != 0 and "HealthcareService actor" in refused.stderr + refused.stdout
    # The seed's Schedule names only a Location and a Practitioner: attach it to a service.
    assert uec("seed", "--db", db_url, "--days", "1").returncode == 0
    imported = uec(
        "seed",
        "--db",
        db_url,
        "--from-file",
        str(DATA / "seed_example_bundle.json"),
        "--healthcare-service",
        "2000100001",
    )
    assert imported.returncode == 0, imported.stderr
    assert "2 slots added" in imported.stdout
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        body = conn.execute(
            text(
                "SELECT body FROM directory_resource WHERE resource_type='Practitioner' AND id='2'"
            )
        ).scalar_one()
        slot = conn.execute(text("SELECT schedule_id, status FROM slot WHERE id='1584'")).one()
    engine.dispose()
    assert json.loads(body)["name"] == [{"family": "Black", "given": ["Sarah"], "prefix": ["Mrs"]}]
    assert tuple(slot) == ("14", "free")


def test_serve_provider_refuses_to_start_without_an_auth_choice(tmp_path: Path) -> None:
    result = uec("serve", "provider", "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--port", "1")
    assert result.returncode != 0
    assert "--jwks-url" in result.stderr and "--no-auth" in result.stderr
