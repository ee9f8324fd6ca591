"""`seed --from-file` refuses a Bundle that would store nonsense: one sentence, a non-zero
exit, and nothing written (each store)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from uec_booking.cli import app as cli
from uec_booking.provider.store.db import sync_url

BUNDLE = Path(__file__).resolve().parents[1] / "data" / "seed_example_bundle.json"


def counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        found = (
            conn.execute(text("SELECT count(*) FROM directory_resource")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM slot")).scalar_one(),
        )
    engine.dispose()
    return found


def slot_ends_before_it_starts(bundle: dict[str, Any]) -> None:
    slot = bundle["entry"][2]["resource"]
    slot["start"], slot["end"] = slot["end"], slot["start"]


def schedule_for_an_unknown_service(bundle: dict[str, Any]) -> None:
    bundle["entry"][0]["resource"]["actor"].append({"reference": "HealthcareService/404404"})


def slot_start_not_an_instant(bundle: dict[str, Any]) -> None:
    bundle["entry"][2]["resource"]["start"] = "tomorrow"


@pytest.mark.parametrize(
    ("spoil", "service", "complaint"),
    [
        (slot_ends_before_it_starts, "2000100001", "ends"),
        (schedule_for_an_unknown_service, None, "HealthcareService/404404"),
        (slot_start_not_an_instant, "2000100001", "not an instant"),
        (lambda bundle: None, "12345", "--healthcare-service 12345"),
    ],
)
def test_a_bad_import_is_one_sentence_and_writes_nothing(
    db_url: str, tmp_path: Path, spoil: Any, service: str | None, complaint: str
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["seed", "--db", db_url, "--days", "1"]).exit_code == 0
    before = counts(db_url)
    bundle = copy.deepcopy(json.loads(BUNDLE.read_text(encoding="utf-8")))
    spoil(bundle)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    args = ["seed", "--db", db_url, "--from-file", str(path)]
    result = runner.invoke(cli, args + (["--healthcare-service", service] if service else []))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and complaint in lines[0], lines
    assert counts(db_url) == before
