"""SDS as live SDS behaves, on the embedded server and on slapd: the live schema (OIDs,
matching rules, SINGLE-VALUE, MUST attributes), case-exact interaction ids, ldaps and
StartTLS with TLS mutual authentication, and filters too deep to evaluate refused without
freezing the server."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import SUBTREE, Connection, Server

from uec_booking import sample_data
from uec_booking.consumer.errors import NoEndpoint, ServiceUnreachable
from uec_booking.consumer.sds import SdsClient
from uec_booking.netutil import free_port
from uec_booking.spine import sds_schema
from uec_booking.spine.sds import MAX_FILTER_DEPTH, SdsHandle, SdsTLS, start_embedded_sds
from uec_booking.spine.sds_fhir import parse_ldif
from uec_booking.spine.sds_ldif import build_ldif
from uec_booking.spine.slapd import nhs_schema_path, slapd_available, start_slapd
from uec_booking.tls import CertificateAuthority

ENDPOINT = "https://127.0.0.1:8020/fhir"
DIRECTORY = sample_data.load()
PROVIDER = DIRECTORY["provider_system"]
CREATE = "urn:nhs:names:services:careconnect:fhir:rest:create:appointment"
BASE = "ou=Services,o=nhs"


def _start(kind: str, ldif: str, tls: SdsTLS | None = None) -> SdsHandle:
    if kind == "slapd":
        reason = slapd_available()
        if reason:
            pytest.skip(f"OPENLDAP SLAPD NOT AVAILABLE, slapd tests skipped: {reason}")
        return start_slapd(ldif, port=free_port(), tls=tls)
    return start_embedded_sds(ldif, "127.0.0.1", free_port(), tls=tls)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("sds-ca"))


@pytest.fixture(params=["embedded", "slapd"], scope="module")
def plain(request: pytest.FixtureRequest) -> Iterator[SdsHandle]:
    handle = _start(request.param, build_ldif(DIRECTORY, provider_endpoint=ENDPOINT))
    yield handle
    handle.stop()


def test_schema_file_is_the_live_schema() -> None:
    assert nhs_schema_path().read_text(encoding="utf-8") == sds_schema.openldap_schema()
    for name in ("nhsAsSvcIA", "nhsMhsSvcIA", "nhsIDCode"):
        assert sds_schema.equality(name) == "caseExactMatch"
    assert sds_schema.single_valued("nhsMhsSvcIA") and sds_schema.single_valued("nhsIDCode")
    assert "1.2.826.0.1285.0.2.1.123 NAME 'nhsMhsSvcIA'" in nhs_schema_path().read_text()


def test_ldif_entries_carry_what_live_sds_requires() -> None:
    """Both ways: every MUST of the live class is present, every attribute is the class's,
    and SINGLE-VALUE attributes have one value."""
    entries = parse_ldif(build_ldif(DIRECTORY, provider_endpoint=ENDPOINT))
    checked = 0
    for entry in entries:
        classes = {c.lower() for c in entry["objectclass"]}
        for cls in ("nhsAs", "nhsMhs"):
            if cls.lower() not in classes:
                continue
            checked += 1
            must = {a.lower() for a in sds_schema.attributes_of(cls, "MUST")}
            allowed = must | {a.lower() for a in sds_schema.attributes_of(cls, "MAY")}
            assert must <= set(entry), (cls, must - set(entry))
            assert set(entry) - {"dn", "objectclass"} <= allowed, set(entry) - allowed
            for name, values in entry.items():
                if name not in ("dn", "objectclass") and sds_schema.single_valued(name):
                    assert len(values) == 1, name
    assert checked == 3 + 6 + 2  # 3 nhsAs, 6 provider nhsMhs, 2 consumer nhsMhs
    fqdns = {e["nhsmhsfqdn"][0] for e in entries if "nhsmhsfqdn" in e}
    assert DIRECTORY["consumer_systems"][0]["fqdn"] in fqdns


def test_interaction_ids_match_case_exactly(plain: SdsHandle) -> None:
    conn = Connection(Server(plain.url), auto_bind=True)  # (ldap3's `with` binds twice)
    try:
        for value, expected in ((CREATE, 1), (CREATE.upper(), 0)):
            query = f"(&(nhsMHSPartyKey={PROVIDER['party_key']})(nhsMhsSvcIA={value}))"
            conn.search(BASE, query, SUBTREE, attributes=["nhsMHSEndPoint"])
            assert len(conn.entries) == expected, (value, conn.entries)
        # nhsMHSPartyKey is caseIgnoreMatch on live SDS: that one still matches.
        conn.search(BASE, f"(nhsMHSPartyKey={PROVIDER['party_key'].lower()})", SUBTREE)
        assert len(conn.entries) == 7  # nhsAs + 6 nhsMhs
        conn.search(BASE, f"(nhsAsSvcIA={CREATE.upper()})", SUBTREE)
        assert conn.entries == []
    finally:
        conn.unbind()


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _ber_length(len(body)) + body


def _search_with_nots(depth: int, message_id: int = 1) -> bytes:
    """An LDAP SearchRequest whose filter is `depth` nested NOTs, built by hand: a client
    library would itself recurse building it."""
    search_filter = _tlv(0x87, b"objectClass")  # (objectClass=*)
    for _ in range(depth):
        search_filter = _tlv(0xA2, search_filter)
    request = (
        _tlv(0x04, BASE.encode())
        + _tlv(0x0A, b"\x02")  # wholeSubtree
        + _tlv(0x0A, b"\x00")
        + _tlv(0x02, b"\x00")
        + _tlv(0x02, b"\x00")
        + _tlv(0x01, b"\x00")
        + search_filter
        + _tlv(0x30, b"")
    )
    return _tlv(0x30, _tlv(0x02, bytes([message_id])) + _tlv(0x63, request))


def _answer(url: str, message: bytes) -> bytes:
    host, port = url.split("://")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(message)
        chunks = b""
        try:
            while chunk := raw.recv(65536):
                chunks += chunk
                if b"\x65" in chunks[:16] or re.search(rb"\x65.\x0a\x01", chunks):
                    break
        except TimeoutError:
            pass
        return chunks


@pytest.mark.parametrize("depth", [MAX_FILTER_DEPTH + 8, 3000])
def test_deep_filters_are_refused_and_the_server_keeps_answering(
    plain: SdsHandle, depth: int
) -> None:
    answer = _answer(plain.url, _search_with_nots(depth))
    if plain.log is not None and plain.log.name == "sds.log":  # the embedded server
        done = re.search(rb"\x65.\x0a\x01(.)", answer, re.DOTALL)
        # An LDAP error (adminLimitExceeded), or a hang-up: never a result set.
        assert done is None or done.group(1) != b"\x00", answer[:60]
    for _ in range(3):  # and it still answers everyone else, at once
        client = SdsClient(url=plain.url, timeout=2)
        assert asyncio.run(client.endpoint_for(PROVIDER["asid"])) == ENDPOINT
    assert plain.process.poll() is None
    assert "Traceback" not in plain.output()


@pytest.mark.parametrize("kind", ["embedded", "slapd"])
@pytest.mark.parametrize("starttls", [False, True])
def test_tls_mutual_authentication(
    ca: CertificateAuthority, tmp_path: Path, kind: str, starttls: bool
) -> None:
    server = ca.issue(f"sds-{kind}-{starttls}", "sds.sandbox.nhs.uk")
    consumer = ca.issue("consumer", "nhs111.x26cn1.sandbox.nhs.uk")
    tls = SdsTLS(server.cert, server.key, client_ca=ca.cert, starttls=starttls)
    handle = _start(kind, build_ldif(DIRECTORY, provider_endpoint=ENDPOINT), tls)
    try:
        assert handle.url.startswith("ldap://" if starttls else "ldaps://")

        def client(**kwargs: object) -> SdsClient:
            options: dict[str, object] = {
                "ca_file": str(ca.cert),
                "cert_file": str(consumer.cert),
                "key_file": str(consumer.key),
                "start_tls": starttls,
                "timeout": 3,
            }
            options.update(kwargs)
            return SdsClient(url=handle.url, **options)  # type: ignore[arg-type]

        assert asyncio.run(client().endpoint_for(PROVIDER["asid"])) == ENDPOINT
        stranger = CertificateAuthority.create(tmp_path / "stranger")
        with pytest.raises(ServiceUnreachable, match="untrusted"):
            asyncio.run(client(ca_file=str(stranger.cert)).endpoint_for(PROVIDER["asid"]))
        with pytest.raises(ServiceUnreachable, match=r"TLS to SDS failed|unreachable"):
            asyncio.run(client(cert_file=None, key_file=None).endpoint_for(PROVIDER["asid"]))
    finally:
        handle.stop()


def test_both_careconnect_and_gp_connect_is_no_booking(tmp_path: Path) -> None:
    """Assurance script C12: an nhsAS listing both kinds of interaction → error, no booking."""
    blocks = build_ldif(DIRECTORY, provider_endpoint=ENDPOINT).split("\n\n")
    provider_as = f"dn: uniqueIdentifier={PROVIDER['asid']},"
    gp_connect = "nhsAsSvcIA: urn:nhs:names:services:gpconnect:fhir:rest:read:metadata"
    ldif = "\n\n".join(b + "\n" + gp_connect if b.startswith(provider_as) else b for b in blocks)
    handle = start_embedded_sds(ldif, "127.0.0.1", free_port())
    try:
        with pytest.raises(NoEndpoint, match="both CareConnect and GP Connect"):
            asyncio.run(SdsClient(url=handle.url).endpoint_for(PROVIDER["asid"]))
    finally:
        handle.stop()
