"""Signing keys of the NHS authentication stand-in: RSA keys with self-signed certificates
(for the `x5t` thumbprint), two published at once so that keys can rotate."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, subject: str = "uec-booking sandbox auth") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        return cls(kid=cls._thumbprint(cert)[:16], private_key=key, certificate=cert)

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes, kid: str | None = None) -> SigningKey:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key")
        cert = x509.load_pem_x509_certificate(cert_pem)
        return cls(kid=kid or cls._thumbprint(cert)[:16], private_key=key, certificate=cert)

    @classmethod
    def from_files(cls, key_path: str | Path, cert_path: str | Path) -> SigningKey:
        return cls.from_pem(Path(key_path).read_bytes(), Path(cert_path).read_bytes())

    def write(self, key_path: str | Path, cert_path: str | Path) -> None:
        """PEM files (key unencrypted, mode 0600) that `from_files` reads back."""
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        Path(key_path).touch(mode=0o600)
        Path(key_path).write_bytes(key_pem)
        Path(cert_path).write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _thumbprint(cert: x509.Certificate) -> str:
        der = cert.public_bytes(serialization.Encoding.DER)
        return _b64url(hashlib.sha1(der, usedforsecurity=False).digest())

    @property
    def x5t(self) -> str:
        """Base64url SHA-1 thumbprint of the DER certificate (JWS `x5t`)."""
        return self._thumbprint(self.certificate)

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        jwk.update(
            kid=self.kid, use="sig", alg="RS256", x5t=self.x5t, x5c=[base64.b64encode(der).decode()]
        )
        return jwk


class KeySet:
    """The active signing key and the next one; both are published in the JWKS."""

    def __init__(
        self, active: SigningKey | None = None, upcoming: SigningKey | None = None
    ) -> None:
        self.active = active or SigningKey.generate()
        self.upcoming = upcoming or SigningKey.generate()
        self.retired: list[SigningKey] = []

    def rotate(self) -> None:
        """Sign with the next key from now on; the old one stays published for a while, so
        tokens it signed still verify until they expire."""
        self.retired = [self.active]
        self.active, self.upcoming = self.upcoming, SigningKey.generate()

    def jwks(self) -> dict[str, Any]:
        keys = [self.active, self.upcoming, *self.retired]
        return {"keys": [k.jwk() for k in keys]}

    @classmethod
    def from_directory(cls, directory: str | Path) -> KeySet:
        """`active.key.pem` + `active.cert.pem` (and optionally `next.key.pem` +
        `next.cert.pem`) from `directory`; a missing next key is generated. The kid of a
        loaded key is its certificate thumbprint, so it survives restarts."""
        root = Path(directory)
        active = SigningKey.from_files(root / "active.key.pem", root / "active.cert.pem")
        upcoming = None
        if (root / "next.key.pem").exists():
            upcoming = SigningKey.from_files(root / "next.key.pem", root / "next.cert.pem")
        return cls(active, upcoming)

    def write_directory(self, directory: str | Path) -> None:
        """Save the active and next keys where `from_directory` finds them."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        self.active.write(root / "active.key.pem", root / "active.cert.pem")
        self.upcoming.write(root / "next.key.pem", root / "next.cert.pem")
