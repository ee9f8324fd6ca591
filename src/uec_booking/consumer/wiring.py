"""The consumer's clients built from its configuration: what `book`, `check-config`, the
console and a library user all wire the same way. A setting missing for the mode chosen is
a `ConfigError` naming the UEC_* variables."""

from __future__ import annotations

from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens, TokenSource
from uec_booking.consumer.config import ConsumerAuthMode, ConsumerConfig, SdsMode
from uec_booking.consumer.dos import DosClient
from uec_booking.consumer.errors import AuthError, ConfigError
from uec_booking.consumer.pds import PdsClient
from uec_booking.consumer.platform_auth import PlatformTokens, load_private_key
from uec_booking.consumer.provider import ProviderClient
from uec_booking.consumer.sds import SdsClient
from uec_booking.consumer.sds_fhir import SdsFhirClient
from uec_booking.consumer.workflow import BookingWorkflow
from uec_booking.tls_http import tls_transport

AUTH_SERVICE = "the NHS authentication service"
PLATFORM_AUTH = "NHS API platform auth"


def interim_tokens(config: ConsumerConfig) -> InterimTokens:
    """The tokens this consumer builds itself under the standard's interim rule."""
    return InterimTokens(
        consumer_ods=config.consumer_ods,
        consumer_name=config.consumer_name,
        device_id=config.interim_device_id or config.consumer_asid,
        device_system=config.interim_device_system,
        issuer=config.interim_issuer,
        subject=config.interim_subject,
        practitioner=config.interim_practitioner,
    )


def token_source(config: ConsumerConfig) -> TokenSource:
    """The provider tokens of `config.auth_mode`."""
    if config.auth_mode is ConsumerAuthMode.INTERIM:
        return interim_tokens(config)
    if not (config.auth_token_url and config.client_id and config.client_secret):
        raise ConfigError(
            "signed auth needs UEC_AUTH_TOKEN_URL, UEC_CLIENT_ID and UEC_CLIENT_SECRET"
        )
    return ClientCredentialsTokens(
        token_url=config.auth_token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        timeout=config.timeout,
        transport=tls_transport(config.tls_context(AUTH_SERVICE), service=AUTH_SERVICE),
    )


def pds_tokens(config: ConsumerConfig) -> PlatformTokens | None:
    """The NHS API platform token source for PDS, or None (an open PDS sandbox)."""
    url, api_key, key_file, kid = (
        config.pds_token_url,
        config.pds_api_key,
        config.pds_private_key,
        config.pds_kid,
    )
    if not (url or api_key or key_file or kid):
        return None
    if not (url and api_key and key_file and kid):
        raise ConfigError(
            "PDS on the NHS API platform needs UEC_PDS_TOKEN_URL, UEC_PDS_API_KEY, "
            "UEC_PDS_PRIVATE_KEY and UEC_PDS_KID together"
        )
    try:
        key = load_private_key(key_file)
    except AuthError as exc:
        raise ConfigError(f"UEC_PDS_PRIVATE_KEY: {exc}") from exc
    return PlatformTokens(
        token_url=url,
        api_key=api_key,
        private_key=key,
        kid=kid,
        timeout=config.timeout,
        transport=tls_transport(config.tls_context(PLATFORM_AUTH), service=PLATFORM_AUTH),
    )


def sds_client(config: ConsumerConfig) -> SdsClient | SdsFhirClient:
    """SDS over LDAP (default) or the SDS FHIR API (`UEC_SDS_MODE=fhir`)."""
    if config.sds_mode is SdsMode.FHIR:
        if not config.sds_fhir_url or not config.sds_api_key:
            raise ConfigError("UEC_SDS_MODE=fhir needs UEC_SDS_FHIR_URL and UEC_SDS_API_KEY")
        return SdsFhirClient(
            base_url=config.sds_fhir_url,
            api_key=config.sds_api_key,
            timeout=config.timeout,
            cache_ttl=config.sds_cache_ttl,
            transport=tls_transport(config.tls_context("SDS (FHIR)"), service="SDS (FHIR)"),
        )
    return SdsClient(
        url=config.sds_url,
        base=config.sds_base,
        cache_ttl=config.sds_cache_ttl,
        ca_file=config.tls_ca_file,
        cert_file=config.tls_cert_file,
        key_file=config.tls_key_file,
        verify=config.tls_verify,
    )


def build_workflow(config: ConsumerConfig) -> BookingWorkflow:
    """The workflow wired to the real clients named by `config`.

    workflow = build_workflow(load_config("consumer.toml"))
    """
    provider = ProviderClient(
        ssp_url=config.ssp_url,
        from_asid=config.consumer_asid,
        tokens=token_source(config),
        timeout=config.timeout,
        transport=tls_transport(config.tls_context("the SSP"), service="the SSP"),
    )
    return BookingWorkflow(
        pds=PdsClient(
            base_url=config.pds_url,
            tokens=pds_tokens(config),
            end_user_ods=config.pds_end_user_ods,
            timeout=config.timeout,
            transport=tls_transport(config.tls_context("PDS"), service="PDS"),
        ),
        dos=DosClient(
            wsdl=config.dos_wsdl,
            username=config.dos_username,
            password=config.dos_password,
            timeout=config.timeout,
        ),
        sds=sds_client(config),
        provider=provider,
        auth_mode=config.auth_mode.value,
        max_slot_attempts=config.max_slot_attempts,
    )
