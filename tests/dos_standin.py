"""Raw SOAP 1.2 requests to the DoS stand-in, and checks of its answers against the published
contract (lxml and the project's copy of the XSD; see tests/dos_support.py)."""

from __future__ import annotations

from typing import Any

import httpx
from lxml import etree

from tests.dos_support import SOAP12, TNS, assert_valid_envelope
from tests.dos_support import fault_code as fault_of
from uec_booking.asgi_server import ThreadedServer
from uec_booking.spine.dos import create_app

USER, PASSWORD = "sandbox-111", "secret"
CASE = {
    "postcode": "LS1 6AE",
    "age": "40",
    "ageFormat": "Years",
    "disposition": "1005",
    "symptomGroup": "1010",
    "symptomDiscriminatorList": [4003],
    "searchDistance": None,
    "forceSearchDistance": "false",
    "gender": "F",
    "searchDateTime": None,
}


def serve(directory: dict[str, Any]) -> ThreadedServer:
    return ThreadedServer(create_app(directory, username=USER, password=PASSWORD))


def soap(
    operation_xml: str, version: str | None = "1.5", user: str = USER, pw: str = PASSWORD
) -> bytes:
    header = (
        f"<env:Header><w:serviceVersion>{version}</w:serviceVersion></env:Header>"
        if version is not None
        else ""
    )
    user_info = (
        f"<w:userInfo><w:username>{user}</w:username><w:password>{pw}</w:password></w:userInfo>"
        if user
        else ""
    )
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:w="{TNS}">{header}<env:Body>'
        + operation_xml.replace("{userInfo}", user_info)
        + "</env:Body></env:Envelope>"
    ).encode()


def ccs(**changes: Any) -> str:
    """A CheckCapacitySummary payload; a field set to None is left out."""
    fields = {**CASE, **changes}
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        if name == "symptomDiscriminatorList":
            value = "".join(f"<w:int>{v}</w:int>" for v in value)
        parts.append(f"<w:{name}>{value}</w:{name}>")
    return (
        f"<w:CheckCapacitySummary>{{userInfo}}<w:c>{''.join(parts)}</w:c></w:CheckCapacitySummary>"
    )


def sdbid(service_id: str) -> str:
    return f"<w:ServiceDetailsById>{{userInfo}}<w:serviceId>{service_id}</w:serviceId></w:ServiceDetailsById>"


def post(url: str, body: bytes, action: str | None = None) -> httpx.Response:
    media = "application/soap+xml; charset=utf-8" + (f'; action="{action}"' if action else "")
    return httpx.post(url, content=body, headers={"Content-Type": media}, timeout=10)


def answer(response: httpx.Response) -> etree._Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    return assert_valid_envelope(response.content)


def fault(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/soap+xml"), response.text
    assert_valid_envelope(response.content)
    return fault_of(etree.fromstring(response.content))


def find(node: etree._Element, path: str) -> str | None:
    return node.findtext("/".join(f"w:{p}" for p in path.split("/")), namespaces={"w": TNS})
