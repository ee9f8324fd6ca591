"""The project's copy of the published DoS v1.5 contract: the XSD is the WSDL's own schema,
and the WSDL says what the published one says (service, port, SOAP 1.2, soapActions, the
serviceVersion header as a plain string)."""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

from tests.dos_support import CONTRACT, TNS

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XS = "http://www.w3.org/2001/XMLSchema"
SOAP12_BINDING = "http://schemas.xmlsoap.org/wsdl/soap12/"


def wsdl() -> etree._Element:
    return etree.fromstring(CONTRACT.joinpath("pathwayservice_v1_5.wsdl").read_bytes())


def canonical(element: etree._Element) -> bytes:
    """The element without its indentation (whitespace-only text), canonicalised."""
    copy = deepcopy(element)
    for node in copy.iter():
        node.text = node.text if node.text and node.text.strip() else None
        node.tail = None if node is copy or not (node.tail or "").strip() else node.tail
    return bytes(etree.tostring(copy, method="c14n", exclusive=True))


def test_the_xsd_is_the_wsdls_own_schema() -> None:
    embedded = wsdl().find(f"{{{WSDL}}}types/{{{XS}}}schema")
    standalone = etree.fromstring(CONTRACT.joinpath("pathwayservice_v1_5.xsd").read_bytes())
    assert embedded is not None
    assert embedded.attrib == standalone.attrib
    assert [canonical(e) for e in embedded] == [canonical(e) for e in standalone]


def test_the_wsdl_is_the_published_v15_service() -> None:
    root = wsdl()
    assert root.get("targetNamespace") == TNS
    service = root.find(f"{{{WSDL}}}service")
    assert service is not None and service.get("name") == "PathWayService"
    port = service.find(f"{{{WSDL}}}port")
    assert port is not None and port.get("name") == "PathWayServiceSoap12"
    binding = root.find(f"{{{WSDL}}}binding[@name='PathWayServiceSoap12']")
    assert binding is not None and binding.find(f"{{{SOAP12_BINDING}}}binding") is not None
    actions = {
        op.get("name"): op.find(f"{{{SOAP12_BINDING}}}operation").get("soapAction")  # type: ignore[union-attr]
        for op in binding.findall(f"{{{WSDL}}}operation")
    }
    assert actions == {
        name: f"https://nww.pathwaysdos.nhs.uk/app/api/webservices/{name}"
        for name in ("ServiceDetailsById", "GetHospitalScores", "CheckCapacitySummary")
    }
    header = root.find(f"{{{WSDL}}}types/{{{XS}}}schema/{{{XS}}}element[@name='serviceVersion']")
    assert header is not None and header.get("type") == "s:string"
    case = root.find(f"{{{WSDL}}}types/{{{XS}}}schema/{{{XS}}}complexType[@name='Case']")
    assert case is not None
    fields = {e.get("name"): e.get("type") for e in case.iter(f"{{{XS}}}element")}
    assert fields["disposition"] == "s:int" and fields["forceSearchDistance"] == "s:boolean"
    assert fields["symptomDiscriminatorList"] == "tns:ArrayOfInt"
