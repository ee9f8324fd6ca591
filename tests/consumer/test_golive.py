"""`uec-booking check-config` against the sandbox, with a good configuration and with broken
ones: each problem is said in a plain sentence and the exit code is non-zero; and
`uec-booking keys` makes the key pair whose JWKS a consumer registers with the platform."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from uec_booking.cli import app
from uec_booking.netutil import free_port
from uec_booking.sandbox import Sandbox

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with Sandbox(days=1) as manifest:
        yield manifest


def check(tmp_path: Path, manifest: dict[str, Any], *extra: str) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["check-config", "--config", str(path), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_a_good_configuration_passes(sandbox: dict[str, Any], tmp_path: Path) -> None:
    code, out = check(tmp_path, sandbox)
    assert code == 0, out
    for said in (
        "[ok] DoS: The WSDL at",
        "(v1.5)",
        "[ok] SDS:",
        "[ok] SSP:",
        f"[ok] Tokens: The authentication service issued a token for {sandbox['provider']['url']}",
        "[ok] PDS: The NHS API platform at",
        "found patient 9000000009",
        "The configuration is ready for use.",
    ):
        assert said in out, out


def _broken(sandbox: dict[str, Any], section: str, **changes: str) -> dict[str, Any]:
    return {**sandbox, section: {**sandbox[section], **changes}}


@pytest.mark.parametrize(
    ("section", "changes", "sentence"),
    [
        ("dos", {"wsdl": "http://127.0.0.1:{port}/app?wsdl"}, "cannot be reached"),
        ("sds", {"base": "ou=Nowhere,o=nhs"}, "has no entry ou=Nowhere,o=nhs"),
        ("auth", {"client_secret": "wrong"}, "invalid_client"),
        ("pds", {"kid": "not-registered"}, "no matching public key"),
        ("pds", {"api_key": "unknown-app"}, "Invalid 'iss'/'sub' claims"),
        (
            "pds",
            {"url": "http://127.0.0.1:{port}/personal-demographics/FHIR/R4"},
            "cannot be reached",
        ),
        ("ssp", {"url": "http://127.0.0.1:{port}"}, "cannot be reached"),
    ],
)
def test_broken_configurations_are_named(
    sandbox: dict[str, Any], tmp_path: Path, section: str, changes: dict[str, str], sentence: str
) -> None:
    filled = {k: v.format(port=free_port()) for k, v in changes.items()}
    code, out = check(tmp_path, _broken(sandbox, section, **filled))
    assert code == 1, out
    assert sentence in out and "problem(s) found" in out, out
    assert "Traceback" not in out


def test_pds_without_a_platform_application(sandbox: dict[str, Any], tmp_path: Path) -> None:
    pds = {"url": sandbox["pds"]["url"]}  # no token settings: the live PDS refuses
    code, out = check(tmp_path, {**sandbox, "pds": pds})
    assert code == 1, out
    assert "No NHS API platform application is configured" in out
    assert "answered HTTP 401 ACCESS_DENIED" in out and "register" in out
    half = {**pds, "api_key": "x"}  # some settings but not all
    code, out = check(tmp_path, {**sandbox, "pds": half})
    assert code == 1 and "UEC_PDS_KID together" in out, out


def test_an_unreadable_configuration_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("pds_url = [unclosed")
    result = runner.invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 2 and "cannot be read" in result.output
    assert "Traceback" not in result.output


def test_keys_new_and_jwks(tmp_path: Path) -> None:
    key = tmp_path / "pds.pem"
    made = runner.invoke(app, ["keys", "new", "--out", str(key)])
    assert made.exit_code == 0, made.output
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(app, ["keys", "new", "--out", str(key)])
    assert again.exit_code == 1 and "not overwritten" in again.output
    printed = runner.invoke(app, ["keys", "jwks", "--key", str(key), "--kid", "int-1"])
    assert printed.exit_code == 0, printed.output
    jwks = json.loads(printed.output)
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == "int-1" and jwk["alg"] == "RS512" and jwk["kty"] == "RSA"
    assert "d" not in jwk and "p" not in jwk, "only the public key"
    # What the key signs verifies with the printed JWKS: the platform's check.
    from uec_booking.consumer.platform_auth import load_private_key

    token = jwt.encode({"a": 1}, load_private_key(key), algorithm="RS512")
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS512"]) == {"a": 1}
    not_a_key = tmp_path / "x.pem"
    not_a_key.write_text("hello")
    refused = runner.invoke(app, ["keys", "jwks", "--key", str(not_a_key)])
    assert refused.exit_code == 1 and "Cannot read the private key" in refused.output
