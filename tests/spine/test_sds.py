"""SDS over real LDAP: the embedded server and OpenLDAP slapd give the seed's answers to the
seed's two ldapsearch steps, and the consumer's client finds the endpoint through either."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator

import pytest
from ldap3 import MODIFY_REPLACE, Connection, Server

from uec_booking import sample_data
from uec_booking.consumer.errors import AsNotFound, NoEndpoint, ServiceUnreachable, SeveralEndpoints
from uec_booking.consumer.sds import SdsClient
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.spine.sds import SdsHandle, start_embedded_sds
from uec_booking.spine.sds_ldif import build_ldif
from uec_booking.spine.slapd import ldapsearch_available, slapd_available, start_slapd

ENDPOINT = "http://127.0.0.1:8020/fhir"
DIRECTORY = sample_data.load()
PROVIDER = DIRECTORY["provider_system"]
CREATE = "urn:nhs:names:services:careconnect:fhir:rest:create:appointment"


def _start(kind: str, ldif: str) -> SdsHandle:
    if kind == "slapd":
        reason = slapd_available()
        if reason:
            pytest.skip(f"OPENLDAP SLAPD NOT AVAILABLE, slapd tests skipped: {reason}")
        return start_slapd(ldif, port=free_port())
    return start_embedded_sds(ldif, "127.0.0.1", free_port())


@pytest.fixture(params=["embedded", "slapd"], scope="module")
def sds(request: pytest.FixtureRequest) -> Iterator[SdsHandle]:
    handle = _start(request.param, build_ldif(DIRECTORY, provider_endpoint=ENDPOINT))
    yield handle
    handle.stop()


def ldapsearch(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    if not ldapsearch_available():
        pytest.skip(
            "ldapsearch NOT INSTALLED (apt-get install ldap-utils): ldapsearch tests skipped"
        )
    return subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-H", url, *args], capture_output=True, text=True, timeout=30
    )


def test_seed_step_1(sds: SdsHandle) -> None:
    result = ldapsearch(
        sds.url, "-b", f"uniqueIdentifier={PROVIDER['asid']},ou=Services,o=nhs", "nhsMHSPartyKey"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        f"dn: uniqueIdentifier={PROVIDER['asid']},ou=Services,o=nhs",
        f"nhsMHSPartyKey: {PROVIDER['party_key']}",
    ]


@pytest.mark.parametrize("space", ["", " "])
def test_seed_step_2(sds: SdsHandle, space: str) -> None:
    query = f"(&(nhsMHSPartyKey={space}{PROVIDER['party_key']})(nhsMhsSvcIA={CREATE}))"
    result = ldapsearch(sds.url, "-b", "ou=Services,o=nhs", query, "nhsMHSEndPoint")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1] == f"nhsMHSEndPoint: {ENDPOINT}"


def test_unknown_asid_and_ldap_errors(sds: SdsHandle) -> None:
    missing = ldapsearch(
        sds.url, "-b", "uniqueIdentifier=200000000999,ou=Services,o=nhs", "nhsMHSPartyKey"
    )
    assert missing.returncode == 32  # noSuchObject
    limited = ldapsearch(sds.url, "-z", "2", "-b", "ou=Services,o=nhs", "(objectClass=*)", "dn")
    assert limited.returncode == 4  # sizeLimitExceeded
    host, port = sds.url.removeprefix("ldap://").split(":")
    conn = Connection(Server(sds.url), auto_bind=True)
    changed = conn.modify(
        f"uniqueIdentifier={PROVIDER['asid']},ou=Services,o=nhs",
        {"nhsMHSPartyKey": [(MODIFY_REPLACE, ["evil"])]},
    )
    conn.unbind()
    # Read-only: the embedded server says unwillingToPerform, slapd strongerAuthRequired.
    assert not changed and conn.result["result"] in (53, 8)
    with socket.create_connection((host, int(port))) as raw:  # garbage on the wire
        raw.sendall(b"\x30\x84\xff\xff\xff\xffgarbage")
    assert ldapsearch(sds.url, "-b", "ou=Services,o=nhs", "(nhsMhsSvcIA=*)", "dn").returncode == 0


def test_client_finds_the_endpoint_and_caches(sds: SdsHandle) -> None:
    client = SdsClient(url=sds.url)
    assert asyncio.run(client.endpoint_for(PROVIDER["asid"])) == ENDPOINT
    assert asyncio.run(client.endpoint_for(PROVIDER["asid"], Interaction.READ_SLOT)) == ENDPOINT
    sent = client.lookups
    asyncio.run(client.endpoint_for(PROVIDER["asid"]))
    assert client.lookups == sent, "a cached answer sends no LDAP search"
    with pytest.raises(AsNotFound):
        asyncio.run(client.endpoint_for("200000000999"))


def test_client_error_cases() -> None:
    directory = {
        **DIRECTORY,
        "consumer_systems": [{**DIRECTORY["consumer_systems"][0], "groups": []}],
    }
    ldif = build_ldif(directory, provider_endpoint="not a url")
    # Two nhsMHS objects for one interaction: append a duplicate endpoint entry.
    ldif += (
        f"\ndn: uniqueIdentifier=dup-1,ou=Services,o=nhs\nobjectClass: top\nobjectClass: nhsMhs\n"
        f"uniqueIdentifier: dup-1\nnhsMHSPartyKey: {PROVIDER['party_key']}\n"
        f"nhsMhsSvcIA: urn:nhs:names:services:careconnect:fhir:rest:read:slot\nnhsMHSEndPoint: http://other/fhir\n\n"
    )
    handle = start_embedded_sds(ldif, "127.0.0.1", free_port())
    try:
        client = SdsClient(url=handle.url)
        with pytest.raises(NoEndpoint):  # the endpoint is not a URL
            asyncio.run(client.endpoint_for(PROVIDER["asid"]))
        with pytest.raises(SeveralEndpoints):
            asyncio.run(client.endpoint_for(PROVIDER["asid"], Interaction.READ_SLOT))
        consumer_asid = DIRECTORY["consumer_systems"][0]["asid"]
        with pytest.raises(NoEndpoint):  # a system with no nhsMHS entries
            asyncio.run(client.endpoint_for(consumer_asid))
    finally:
        handle.stop()
    with pytest.raises(ServiceUnreachable):
        asyncio.run(SdsClient(url=f"ldap://127.0.0.1:{free_port()}", timeout=1).endpoint_for("1"))
