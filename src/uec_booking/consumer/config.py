"""The consumer's configuration: a TOML file or the sandbox manifest (unchanged), with `UEC_*`
environment variables winning over the file."""

from __future__ import annotations

import json
import ssl
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class AuthMode(StrEnum):
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
    auth_mode: AuthMode = AuthMode.SIGNED
    auth_token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    consumer_asid: str
    consumer_ods: str = "X26CN1"
    consumer_name: str = "uec-booking consumer"
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
    auth, dos, tls = data.get("auth", {}), data.get("dos", {}), data.get("tls", {})
    sds = data.get("sds", {})
    return {
        "tls_ca_file": tls.get("ca"),
        "tls_cert_file": tls.get("consumer_cert"),
        "tls_key_file": tls.get("consumer_key"),
        "sds_fhir_url": sds.get("fhir_url"),
        "sds_api_key": sds.get("api_key"),
        "ssp_url": data.get("ssp", {}).get("url"),
        "pds_url": data.get("pds", {}).get("url"),
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


def load_config(path: str | Path | None = None, **overrides: Any) -> ConsumerConfig:
    """Read `path` (TOML, or a sandbox manifest in JSON) and the environment."""
    values: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith(".json") or text.lstrip().startswith("{"):
            values = from_manifest(json.loads(text))
        else:
            values = dict(tomllib.loads(text))
    values.update(overrides)
    return ConsumerConfig(**{k: v for k, v in values.items() if v is not None})
