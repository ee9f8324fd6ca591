"""`uec-booking serve console` with ordinary mistakes: one sentence, exit 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uec_booking.cli import app


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (None, "needs the consumer configuration"),
        ("{broken", "needs the consumer configuration"),
        (json.dumps({"provider": {}, "pds": {"url": "http://127.0.0.1:1"}}), "consumer_asid"),
    ],
)
def test_bad_configuration_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str | None, words: str
) -> None:
    monkeypatch.delenv("UEC_CONFIG", raising=False)
    args = ["serve", "console"]
    if config is not None:
        path = tmp_path / "manifest.json"
        path.write_text(config, encoding="utf-8")
        args += ["--config", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_no_identity_provider_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "consumer.toml"
    path.write_text(
        'pds_url = "http://127.0.0.1:1"\ndos_wsdl = "http://127.0.0.1:1/?wsdl"\n'
        'dos_username = "u"\ndos_password = "p"\nsds_url = "ldap://127.0.0.1:1"\n'
        'consumer_asid = "200000000201"\nauth_mode = "interim"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["serve", "console", "--config", str(path)])
    assert result.exit_code == 2
    assert "needs an identity provider" in result.output
