"""TLS for every hop: a sandbox certificate authority standing in for Spine's, and the SSL
contexts servers and clients build from its files.

Spine issues each system a client certificate for its FQDN (TLS mutual authentication); the
SSP, SDS and PDS require it, and providers accept only the SSP's. The sandbox CA does the
same on loopback, with cryptography's x509 builder:

    ca = CertificateAuthority.create(Path("tls"))
    ssp = ca.issue("ssp", "ssp.sandbox.nhs.uk")        # server and client certificate
    ssp.cert, ssp.key                                  # PEM file paths
    ca.cert                                            # the bundle clients trust
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("uec_booking.tls")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path
    fqdn: str


@dataclass(frozen=True)
class ServerTLS:
    """What a server needs: its credential and, for mutual TLS, the CA its clients' come from.

    `client_ca` with `require_client=True`: the handshake fails without a trusted client
    certificate (the provider). `require_client=False`: a client certificate is asked for
    and verified when sent, and the application decides what no certificate means (the SSP
    answers 496, as its guide says)."""

    cert: Path
    key: Path
    client_ca: Path | None = None
    require_client: bool = True

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        if self.client_ca is not None:
            context.load_verify_locations(self.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED if self.require_client else ssl.CERT_OPTIONAL
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "uec-booking sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


class CertificateAuthority:
    """A local CA in a directory: `ca.pem` (trust this) and `ca.key`."""

    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.directory = directory
        self._key = key
        self._cert = cert

    @property
    def cert(self) -> Path:
        return self.directory / "ca.pem"

    @classmethod
    def create(
        cls, directory: Path, name: str = "uec-booking sandbox Spine CA"
    ) -> CertificateAuthority:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, key, cert)
        ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, directory / "ca.key")
        return ca

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """The CA that `create` wrote to `directory` (tests issue more certificates from it)."""
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / 'ca.key'} is not this CA's kind of key")
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        return cls(directory, key, cert)

    def issue(
        self,
        name: str,
        fqdn: str,
        *,
        hosts: tuple[str, ...] = LOOPBACK_NAMES,
        valid_days: float = 30,
        expired: bool = False,
    ) -> Credential:
        """A certificate for `fqdn` (its CN and first DNS name) that also names `hosts`, so a
        loopback server is verified by host name; usable as server and as client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        start, end = (
            (now - timedelta(days=2), now - timedelta(days=1))
            if expired
            else (now - timedelta(minutes=5), now + timedelta(days=valid_days))
        )
        names: list[x509.GeneralName] = [x509.DNSName(fqdn)]
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                if host != fqdn:
                    names.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(fqdn))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return Credential(cert_path, key_path, fqdn)


def client_context(
    *,
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    verify: bool = True,
    service: str = "a server",
) -> ssl.SSLContext:
    """A client context: server certificates verified against `ca_file` (else the system's
    bundle) with host names checked; presents `cert_file` when given. `verify=False` is for
    debugging only and says so on every start."""
    if verify:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    else:
        log.warning(
            "TLS verification of %s is OFF (UEC_TLS_VERIFY=0): anyone on the path can "
            "impersonate it; never run like this outside debugging",
            service,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context


def peer_fqdns(peercert: dict[str, Any] | None) -> set[str]:
    """The DNS names (SAN, else CN) of a verified peer certificate, lower-cased."""
    if not peercert:
        return set()
    names = {v.lower() for k, v in peercert.get("subjectAltName", ()) if k == "DNS"}
    if not names:
        for rdn in peercert.get("subject", ()):
            names |= {v.lower() for k, v in rdn if k == "commonName"}
    return names


# What OpenSSL says (in any exception of the chain) → the cause, in words. Order matters:
# an alert is the server refusing *our* certificate; the rest is us refusing *its*.
_CAUSES = (
    ("alert certificate required", "it requires a client certificate and none was presented"),
    ("alert unknown ca", "it does not trust our client certificate (unknown CA)"),
    ("alert certificate expired", "it refused our client certificate as expired"),
    ("alert bad certificate", "it refused our client certificate"),
    ("alert certificate unknown", "it refused our client certificate"),
    ("certificate has expired", "its certificate has expired"),
    ("hostname mismatch", "its certificate is for another host name (wrong host)"),
    ("ip address mismatch", "its certificate is for another host name (wrong host)"),
    ("doesn't match", "its certificate is for another host name (wrong host)"),
    ("self-signed certificate", "its certificate is not from a trusted CA (untrusted)"),
    ("unable to get local issuer", "its certificate is not from a trusted CA (untrusted)"),
    ("certificate_verify_failed", "its certificate failed verification"),
    ("wrong version number", "it does not speak TLS on that port"),
    # Python's asyncio servers (and others) hang up without an alert when they refuse a
    # client certificate: TLS 1.2 clients see the EOF in the handshake, TLS 1.3 clients
    # on their first read.
    (
        "unexpected_eof_while_reading",
        "it closed the connection in the handshake (no, an untrusted or an expired client certificate?)",
    ),
    ("record layer failure", "it does not speak TLS on that port"),
)


def describe_tls_error(exc: BaseException, service: str) -> str | None:
    """One sentence naming the service and the cause of a TLS failure, or None when `exc`
    is not one."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 10:
        texts.append(str(seen))
        # getattr: ldap3 makes exception classes that inherit ssl's without its fields.
        verify_message = getattr(seen, "verify_message", None)
        if isinstance(verify_message, str):
            texts.append(verify_message)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(texts).lower()
    for needle, cause in _CAUSES:
        if needle in text:
            return f"TLS to {service} failed: {cause}."
    return None
