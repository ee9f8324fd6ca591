"""Ordinary mistakes at the command line: one sentence naming what is wrong, a non-zero exit,
no traceback (issue: the CLI as a vendor's engineer would want it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PG_UNAVAILABLE, PG_URL
from uec_booking.netutil import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "consumer.toml"


def uec(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UEC_")}
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=cwd,
    )


def one_sentence(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed with one line on stderr, starting "error:", naming `words`."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "broken.toml").write_text('ssp_url = "http://x\n')
    (tmp_path / "broken.json").write_text('{"provider": ')
    (tmp_path / "misspelt.toml").write_text(EXAMPLE.read_text().replace("pds_url", "pds_ulr"))
    (tmp_path / "types.toml").write_text(
        EXAMPLE.read_text().replace("timeout = 15.0", 'timeout = "soon"')
    )
    (tmp_path / "not-a-bundle.json").write_text(json.dumps({"resourceType": "Patient"}))
    (tmp_path / "garbage.json").write_text("{nope")
    directory = json.loads((ROOT / "src/uec_booking/data/sample_directory.json").read_text())
    for service in directory["healthcare_services"]:
        (service.get("availability") or {}).pop("days", None)
    (tmp_path / "directory.json").write_text(json.dumps(directory))
    return tmp_path


def test_broken_toml(files: Path) -> None:
    one_sentence(
        uec("book", "--nhs-number", "9000000009", "--config", str(files / "broken.toml")),
        "broken.toml",
        "TOML",
    )


def test_broken_json_manifest(files: Path) -> None:
    one_sentence(
        uec("book", "--nhs-number", "9000000009", "--config", str(files / "broken.json")),
        "broken.json",
        "JSON",
    )


def test_no_config_at_all(tmp_path: Path) -> None:
    one_sentence(uec("book", "--nhs-number", "9000000009", cwd=tmp_path), "--config", "pds_url")


def test_misspelt_key_names_the_nearest_valid_one(files: Path) -> None:
    one_sentence(
        uec("book", "--nhs-number", "9000000009", "--config", str(files / "misspelt.toml")),
        "pds_ulr",
        "pds_url",
    )


def test_wrong_type_in_the_file(files: Path) -> None:
    one_sentence(
        uec("book", "--nhs-number", "9000000009", "--config", str(files / "types.toml")),
        "timeout",
        "soon",
    )


def test_wrong_type_in_the_environment() -> None:
    done = uec(
        "book",
        "--nhs-number",
        "9000000009",
        "--config",
        str(EXAMPLE),
        env={"UEC_MAX_SLOT_ATTEMPTS": "many"},
    )
    one_sentence(done, "UEC_MAX_SLOT_ATTEMPTS", "many")


def test_bad_db_url() -> None:
    one_sentence(uec("audit", "--db", "not a url"), "not a url")
    one_sentence(uec("seed", "--db", "mysql://x@y/z"), "sqlite")


def test_db_naming_a_missing_file_or_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "store.sqlite3"
    one_sentence(uec("seed", "--db", f"sqlite:///{missing}"), "does not exist")
    assert not missing.parent.exists()
    one_sentence(uec("audit", "--db", f"sqlite:///{tmp_path / 'typo.sqlite3'}"), "no store")
    assert not (tmp_path / "typo.sqlite3").exists()  # not a new, empty store


def test_postgresql_down() -> None:
    one_sentence(
        uec("audit", "--db", f"postgresql://postgres@127.0.0.1:{free_port()}/test"),
        "cannot be used",
    )


@pytest.mark.pg
@pytest.mark.skipif(
    PG_UNAVAILABLE is not None, reason=f"PostgreSQL NOT AVAILABLE: {PG_UNAVAILABLE}"
)
def test_postgresql_database_missing() -> None:
    base = PG_URL.rpartition("/")[0]
    one_sentence(uec("seed", "--db", f"{base}/uec_no_such_database"), "does not exist", "createdb")


def test_bad_import_bundle(files: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    one_sentence(
        uec("seed", "--db", db, "--from-file", str(files / "garbage.json")), "garbage.json", "JSON"
    )
    one_sentence(uec("seed", "--db", db, "--from-file", str(files / "not-a-bundle.json")), "Bundle")


def test_missing_field_in_a_directory_file(files: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    one_sentence(
        uec("seed", "--db", db, "--directory", str(files / "directory.json")),
        "directory.json",
        "days",
    )


def test_serve_console_without_config(tmp_path: Path) -> None:
    one_sentence(uec("serve", "console", cwd=tmp_path), "--config")


def test_debug_shows_the_traceback(files: Path) -> None:
    done = uec("--debug", "book", "--nhs-number", "1", "--config", str(files / "broken.toml"))
    assert done.returncode != 0 and "Traceback" in done.stderr


@pytest.mark.parametrize("value", ["2024-13-01", "yesterday", "01/12/2026"])
def test_report_from_not_a_date(value: str) -> None:
    line = one_sentence(uec("report", "--from", value), "--from", value, "YYYY-MM-DD")
    assert "Value error" not in line and "Usage:" not in line, line


def test_report_to_before_from() -> None:
    one_sentence(uec("report", "--from", "2026-12-02", "--to", "2026-12-01"), "--to", "after")


@pytest.mark.parametrize("command", [["seed"], ["serve", "sandbox"], ["demo"]])
@pytest.mark.parametrize("days", ["0", "367"])
def test_days_outside_1_to_366(command: list[str], days: str) -> None:
    """The one limit cli_options.toml declares for every `--days`, said plainly."""
    one_sentence(uec(*command, "--days", days), "--days", "from 1 to 366", " ".join(command))


def test_an_unknown_option_is_one_line() -> None:
    one_sentence(uec("book", "--nhs-numbr", "9000000009"), "--nhs-numbr", "--help")
