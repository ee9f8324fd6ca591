"""The consumer's configuration: a TOML file or the sandbox manifest (unchanged), with `UEC_*`
environment variables winning over the file."""

from __future__ import annotations

import difflib
import json
import ssl
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from uec_booking.consumer.errors import ConfigError


class ConsumerAuthMode(StrEnum):
    """Where this consumer's access tokens come from (the provider's `AuthMode` is how a
    provider checks them, and adds `off`)."""

    SIGNED = "signed"  # tokens from the NHS authentication service
    INTERIM = "interim"  # unsigned, built by the consumer (the standard's interim rule)


class SdsMode(StrEnum):
    LDAP = "ldap"  # SDS over LDAP (ldaps), the seed's two ldapsearch steps
    FHIR = "fhir"  # the SDS FHIR API (/Endpoint, /Device) with an API key


class ConsumerConfig(BaseSettings):
    """Every endpoint, credential and ASID the consumer needs. Field `x` is `UEC_X`."""

    model_config = SettingsConfigDict(env_prefix="UEC_", extra="ignore")

    ssp_url: str | None = None  # None: call providers directly (testing only)
    pds_url: str
    dos_wsdl: str
    dos_username: str
    dos_password: str
    sds_url: str
    sds_base: str = "ou=Services,o=nhs"
    auth_mode: ConsumerAuthMode = ConsumerAuthMode.SIGNED
    auth_token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    consumer_asid: str
    consumer_ods: str = "X26CN1"
    consumer_name: str = "uec-booking consumer"
    # Interim mode (fs_authentication "JWT without an Authorisation Server"): the claims the
    # consumer puts in the token it builds for each request.
    interim_issuer: str = "https://consumer.example.nhs.uk"  # iss: this system's Spine endpoint URL
    interim_subject: str | None = (
        None  # sub: the user (default: requesting_practitioner.id, else "1")
    )
    interim_practitioner: dict[str, Any] | None = None  # requesting_practitioner (a Practitioner)
    interim_device_id: str | None = None  # requesting_device identifier value (default: the ASID)
    interim_device_system: str = "https://consumersupplier.com/Id/device-identifier"
    # PDS on the NHS API platform: application-restricted access by a signed JWT.
    pds_token_url: str | None = None  # e.g. https://int.api.service.nhs.uk/oauth2/token
    pds_api_key: str | None = None  # the platform application's API key (iss and sub)
    pds_private_key: str | None = None  # path of the RSA private key (PEM) whose JWKS is registered
    pds_kid: str | None = None  # the kid of that key in the registered JWKS
    pds_end_user_ods: str | None = None  # NHSD-End-User-Organisation-ODS, when serving several
    timeout: float = 15.0
    max_slot_attempts: int = 3
    sds_cache_ttl: float = 300.0
    # TLS (Spine: TLS mutual authentication to the SSP, SDS and PDS). Server certificates
    # are verified against tls_ca_file (else the system's bundle); tls_verify=false is for
    # debugging only and warns on every start. The client certificate is presented where a
    # server asks for one.
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_verify: bool = True
    sds_mode: SdsMode = SdsMode.LDAP
    sds_fhir_url: str | None = None  # the SDS FHIR API base (…/spine-directory/FHIR/R4)
    sds_api_key: str | None = None
    # Where this consumer keeps its journey events for `uec-booking report` ("" = nowhere).
    journal_db: str = "sqlite:///uec-consumer.sqlite3"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (the file's values arrive as init values).
        return env_settings, init_settings

    def tls_context(self, service: str) -> ssl.SSLContext:
        """The client TLS context for `service` (named in warnings and errors)."""
        from uec_booking.tls import client_context

        return client_context(
            ca_file=self.tls_ca_file,
            cert_file=self.tls_cert_file,
            key_file=self.tls_key_file,
            verify=self.tls_verify,
            service=service,
        )


def from_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """The sandbox manifest's keys mapped onto ConsumerConfig fields."""
    auth, dos, pds = data.get("auth", {}), data.get("dos", {}), data.get("pds", {})
    tls, sds = data.get("tls", {}), data.get("sds", {})
    return {
        "tls_ca_file": tls.get("ca"),
        "tls_cert_file": tls.get("consumer_cert"),
        "tls_key_file": tls.get("consumer_key"),
        "sds_fhir_url": sds.get("fhir_url"),
        "sds_api_key": sds.get("api_key"),
        "ssp_url": data.get("ssp", {}).get("url"),
        "pds_url": pds.get("url"),
        "pds_token_url": pds.get("token_url"),
        "pds_api_key": pds.get("api_key"),
        "pds_private_key": pds.get("private_key"),
        "pds_kid": pds.get("kid"),
        "auth_mode": auth.get("mode"),
        "dos_wsdl": dos.get("wsdl"),
        "dos_username": dos.get("username"),
        "dos_password": dos.get("password"),
        "sds_url": data.get("sds", {}).get("url"),
        "sds_base": data.get("sds", {}).get("base", "ou=Services,o=nhs"),
        "auth_token_url": auth.get("token_url"),
        "client_id": auth.get("client_id"),
        "client_secret": auth.get("client_secret"),
        "consumer_asid": auth.get("asid"),
        "consumer_ods": auth.get("ods", "X26CN1"),
    }


def _read_file(path: Path) -> dict[str, Any]:
    """The file's settings: a sandbox manifest (JSON) mapped onto fields, or TOML keys checked
    against the fields, so that a misspelt key is an error rather than silently ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict) or "provider" not in manifest:
            raise ConfigError(f"{path} is JSON but not a sandbox manifest (no 'provider' key)")
        return from_manifest(manifest)
    try:
        values = dict(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    known = list(ConsumerConfig.model_fields)
    for key in values:
        if key not in ConsumerConfig.model_fields:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{path}: unknown key '{key}'{hint}")
    return values


def _invalid(exc: pydantic.ValidationError, path: Path | None) -> ConfigError:
    missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
    wrong = [
        f"{e['loc'][0]} (UEC_{str(e['loc'][0]).upper()}) {e['msg'].lower()}, got {e.get('input')!r}"
        for e in exc.errors()
        if e["type"] != "missing"
    ]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + wrong
    if path is None and missing:
        return ConfigError(
            "no consumer configuration: give --config FILE (a TOML file or the sandbox "
            f"manifest) or set the UEC_* variables ({'; '.join(problems)})"
        )
    where = f"{path}" if path else "the UEC_* settings"
    return ConfigError(
        f"the consumer configuration in {where} is not usable: {'; '.join(problems)}"
    )


def load_config(path: str | Path | None = None, **overrides: Any) -> ConsumerConfig:
    """Read `path` (TOML, or a sandbox manifest in JSON) and the environment.

    Raises `ConfigError` naming the file, the key and what is wrong with it."""
    file = Path(path) if path is not None else None
    values: dict[str, Any] = _read_file(file) if file is not None else {}
    values.update(overrides)
    try:
        return ConsumerConfig(**{k: v for k, v in values.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise _invalid(exc, file) from exc
