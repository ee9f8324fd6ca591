"""The credentials the sandbox issues: its CA (standing in for Spine's) with a certificate for
each server and client system, and the consumer's NHS API platform application for PDS (an
application-restricted client whose signed JWT assertions the platform auth checks against
the public key registered with it; the private key stays with the consumer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uec_booking.tls import CertificateAuthority, Credential

SSP_FQDN = "ssp.sandbox.nhs.uk"


def issue_certificates(
    directory_path: Path, directory: dict[str, Any], host: str
) -> tuple[CertificateAuthority, dict[str, Credential]]:
    """The sandbox CA (in `directory_path/tls`) and a certificate for each server and each
    client system, valid for loopback and `host`."""
    ca = CertificateAuthority.create(directory_path / "tls")
    consumer = directory["consumer_systems"][0]
    hosts = ("localhost", "127.0.0.1", "::1", host)
    fqdns = {
        "ssp": SSP_FQDN,
        "sds": "sds.sandbox.nhs.uk",
        "sds_fhir": "sds-fhir.sandbox.nhs.uk",
        "pds": "pds.sandbox.nhs.uk",
        "auth": "auth.sandbox.nhs.uk",
        "provider": directory["provider_system"].get("fqdn", "provider.sandbox.nhs.uk"),
        "consumer": consumer.get("fqdn", "consumer.sandbox.nhs.uk"),
    }
    return ca, {name: ca.issue(name, fqdn, hosts=hosts) for name, fqdn in fqdns.items()}


def tls_manifest(ca: CertificateAuthority | None, creds: dict[str, Credential]) -> dict[str, Any]:
    """The manifest's `tls` part: where the CA and the consumer's and SSP's keys are."""
    if ca is None:
        return {"enabled": False}
    ssp, consumer = creds["ssp"], creds["consumer"]
    return {
        "enabled": True,
        "ca": str(ca.cert),
        "dir": str(ca.directory),
        "consumer_cert": str(consumer.cert),
        "consumer_key": str(consumer.key),
        "consumer_fqdn": consumer.fqdn,
        "ssp_cert": str(ssp.cert),
        "ssp_key": str(ssp.key),
    }


def register_pds_application(
    clients: Any, consumer: dict[str, Any], keys_dir: Path
) -> dict[str, str]:
    """The consumer's NHS API platform application, for PDS: a new key pair, its public JWKS
    registered inline with the auth service, its private key written where the consumer
    configuration (the manifest's `pds` keys) points."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from uec_booking.consumer.platform_auth import public_jwks
    from uec_booking.spine.auth_clients import Client

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    api_key, kid = f"{consumer['client_id']}-platform-app", "sandbox-pds-1"
    clients.register(
        Client(
            client_id=api_key,
            secret_hash=None,
            asid=consumer["asid"],
            ods=consumer["ods"],
            groups=(),
            scopes=(),
            jwks=public_jwks(key, kid),
        )
    )
    path = keys_dir / "pds-platform-key.pem"
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"api_key": api_key, "kid": kid, "private_key": str(path)}
