"""Consumer configuration: TOML, the sandbox manifest unchanged, and UEC_* overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uec_booking.consumer.config import ConsumerAuthMode, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer.toml"


def test_example_toml_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.ssp_url == "http://127.0.0.1:8010" and config.auth_mode is ConsumerAuthMode.SIGNED
    assert config.consumer_asid == "200000000201" and config.max_slot_attempts == 3


def test_manifest_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = {
        "provider": {"url": "http://p/fhir", "asid": "1", "ods": "X"},
        "ssp": {"url": "http://ssp"},
        "auth": {
            "token_url": "http://a/token",
            "jwks_url": "http://a/jwks",
            "client_id": "c",
            "client_secret": "s",
            "asid": "200000000201",
            "audience": "http://p/fhir",
        },
        "sds": {"url": "ldap://sds", "base": "ou=Services,o=nhs"},
        "dos": {"wsdl": "http://dos?wsdl", "username": "u", "password": "p"},
        "pds": {"url": "http://pds/FHIR/R4"},
        "patients": [],
    }
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(manifest))
    config = load_config(path)
    assert (config.ssp_url, config.client_secret, config.sds_url, config.dos_wsdl) == (
        "http://ssp",
        "s",
        "ldap://sds",
        "http://dos?wsdl",
    )
    monkeypatch.setenv("UEC_CLIENT_SECRET", "from-env")
    monkeypatch.setenv("UEC_AUTH_MODE", "interim")
    overridden = load_config(path)
    assert (
        overridden.client_secret == "from-env" and overridden.auth_mode is ConsumerAuthMode.INTERIM
    )
