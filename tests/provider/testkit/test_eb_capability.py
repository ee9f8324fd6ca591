"""EB_Capability.tstp: the CapabilityStatement in each format, by Accept and `_format`."""

from __future__ import annotations

import httpx

from tests.provider.testkit.kit import (
    JSON_ACCEPT,
    XML_ACCEPT,
    Kit,
    headers,
    jwt,
    response_is,
    response_is_json,
    response_is_xml,
    response_was_gzip,
)


def _metadata(kit: Kit, query: str = "", *extra: dict[str, str]) -> httpx.Response:
    response = kit.client.get(
        f"{kit.url}/metadata{query}", headers=headers("read:metadata", jwt("metadata"), *extra)
    )
    assert response.status_code == 200, response.text[:300]  # CapabilityTest_*: HTTP 200
    response_is(response, "CapabilityStatement")  # ResponseIsCapabilityStatement
    return response


def test_capability_xml_accept(kit: Kit) -> None:
    response_is_xml(_metadata(kit, "", XML_ACCEPT))


def test_capability_json_accept(kit: Kit) -> None:
    response_is_json(_metadata(kit, "", JSON_ACCEPT))


def test_capability_xml_parameter(kit: Kit) -> None:
    response_is_xml(_metadata(kit, "?_format=application/fhir%2Bxml"))


def test_capability_json_parameter(kit: Kit) -> None:
    response_is_json(_metadata(kit, "?_format=application/fhir%2Bjson"))


def test_capability_xml_parameter_json_accept(kit: Kit) -> None:
    response_is_xml(_metadata(kit, "?_format=application/fhir%2Bxml", JSON_ACCEPT))


def test_capability_json_parameter_xml_accept(kit: Kit) -> None:
    response_is_json(_metadata(kit, "?_format=application/fhir%2Bjson", XML_ACCEPT))


def test_capability_xml_accept_gzip(kit: Kit) -> None:
    response = _metadata(kit, "", XML_ACCEPT, {"Accept-Encoding": "gzip"})
    response_is_xml(response)
    response_was_gzip(response)
