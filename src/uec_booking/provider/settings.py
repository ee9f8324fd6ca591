"""Provider settings: one typed object, filled from CLI flags and `UEC_*` variables."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = f"sqlite:///{Path('uec-provider.sqlite3').resolve()}"


class AuthMode(StrEnum):
    SIGNED = "signed"  # RS256 tokens from the NHS authentication service, checked via JWKS
    INTERIM = "interim"  # the standard's interim rule: unsigned consumer-built tokens
    OFF = "off"  # local development only, loudly logged


class AppointmentAccess(StrEnum):
    """Who may read, search and cancel an Appointment (er_overview: a consumer organisation
    not permitted to cancel gets 403)."""

    ORGANISATION = "organisation"  # only the organisation (or system) that booked it
    ANY = "any"  # every consumer assured for the interaction


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UEC_", extra="ignore")

    db_url: str = DEFAULT_DB
    # The FHIR base URL consumers use (what SDS registers and tokens name as `aud`).
    public_base_url: str | None = None
    auth_mode: AuthMode = AuthMode.SIGNED
    jwks_url: str | None = None
    token_issuer: str | None = None
    # CA bundle the JWKS server's certificate is verified against (else the system's).
    tls_ca_file: str | None = None
    ods_code: str = "X26PR1"
    asid: str = "200000000101"
    appointment_access: AppointmentAccess = AppointmentAccess.ORGANISATION
    max_body_bytes: int = 1 << 20
    max_search_results: int = 1000
    db_pool_size: int = 10
    # Slot search views each worker keeps (0: every search reads the tables).
    slot_cache_views: int = 256
    # ... and slots they may hold in all (about 2 kB each).
    slot_cache_slots: int = 100_000
    # One JSON line per request on the `uec_booking.provider.access` logger (stderr); on by
    # default in `serve provider`, off for an app embedded elsewhere (the sandbox, tests).
    access_log: bool = False
    # Prometheus metrics on /metrics (keep it off the public side of the load balancer).
    metrics: bool = True
    # An availability template the provider re-applies every `availability_interval_s`,
    # keeping `availability_horizon_days` of slots ahead (one worker at a time).
    availability_file: Path | None = None
    availability_horizon_days: int = 28
    availability_interval_s: float = 3600.0
