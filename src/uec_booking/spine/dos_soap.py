"""The DoS v1.5 SOAP message layer: the published contract (the project's copy of the WSDL and
its schema, in `dos_contract/`), safe parsing of SOAP 1.2 envelopes, schema validation, and
faults in the published shape: `env:Code/env:Value` is the DoS numeric code
(`soap_api_errors_v1_5.md`), `env:Reason/env:Text` its published description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lxml import etree

TNS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
WSDL_FILE = "pathwayservice_v1_5.wsdl"
XSD_FILE = "pathwayservice_v1_5.xsd"
PUBLISHED_ADDRESS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"
SERVICE_VERSION = "1.5"  # the only version this stand-in serves (and the published default)

MAX_BODY_BYTES = 256 * 1024  # a CheckCapacitySummary is under 2 KiB
MAX_DEPTH = 16  # the deepest published message is 6 levels below the Envelope

# The published error descriptions (`_pages/soap_api/soap_api_errors_v1_5.md`, v1.5 table).
REASONS: dict[int, str] = {
    100: "System Search failure",
    101: "Postcode Validation: Postcode not found",
    102: "Service Search: No services found",
    103: "Request Response: Service not found",
    104: "Parameter Validation: No valid discriminators passed/SGSD combo not valid",
    105: "Parameter Validation: Search distance must be greater than 0km and less than maximum system distance.",
    106: "Parameter Validation: Invalid gender supplied - supported values: M, F, I",
    107: "WSDL Validation: Unsupported Webservice version",
    108: "Malformed XML: The soap message is not valid xml.",
    109: "Parameter Validation: searchDateTime ({value}) more than 12 months in future",
    110: "Parameter Validation: searchDateTime ({value}) more than 1 minute in the past",
    113: "Parameter Validation: where the distance override value is true, a distance value must be provided",
    114: "Parameter Validation: Invalid age supplied - mandatory field, only whole numbers allowed",
    115: "Parameter Validation: Invalid age value supplied. Supported values where Days format is used are numbers between 0-31",
    116: "Parameter Validation: Invalid age value supplied. Supported values where Months format is used are whole numbers between 1-23",
    117: "Parameter Validation: Invalid age value supplied. Supported values where Years format is used are whole numbers between 2-129",
    118: "Parameter Validation: Invalid age value supplied. Supported values where AgeGroup is used are: 1, 2, 3, 4",
    119: "Parameter Validation: Invalid age format supplied - supported values Years, Months, Days, AgeGroup",
    120: "Parameter Validation: Symptom Group could not be found",
    121: "Parameter Validation: Disposition not found",
    302: "Authentication failed: Please check user credentials (username/password) or check whether the user account is locked (use password reset to unlock)",
    500: "Internal Server Error",
    1001: "Request Validation: Unable to locate username and password in the request",
}
SOAP_VERSION_UNKNOWN = "Malformed XML: Unable to identify the SOAP version"
SEARCH_DATE_INVALID = "Parameter Validation: Search date and time is invalid"
SERVER_CODES = frozenset({100, 300, 500, 504})  # the receiver's fault, not the sender's

# Which code a schema failure in a field earns (the errors page names one per field).
FIELD_CODES: dict[str, int] = {
    "userInfo": 1001,
    "username": 1001,
    "password": 1001,
    "postcode": 101,
    "age": 114,
    "ageFormat": 119,
    "gender": 106,
    "searchDistance": 105,
    "symptomGroup": 120,
    "disposition": 121,
    "symptomDiscriminatorList": 104,
    "int": 104,
}
_NAME = re.compile(r"\{[^}]*\}(\w+)")


@dataclass
class DosFault(Exception):
    """A request DoS refuses: answered as a SOAP 1.2 Fault with the DoS code."""

    code: int
    reason: str = ""
    detail: str | None = None

    def __post_init__(self) -> None:
        self.reason = self.reason or REASONS.get(self.code, REASONS[100])

    @property
    def status(self) -> int:
        """SOAP 1.2 HTTP binding: a sender's fault travels with 400, any other with 500."""
        return 500 if self.code in SERVER_CODES else 400

    def text(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def fault_envelope(fault: DosFault) -> bytes:
    """The published Fault: `<env:Code><env:Value>302</env:Value></env:Code>` and the Reason."""
    env = f"{{{SOAP12}}}"
    envelope = etree.Element(env + "Envelope", nsmap={"env": SOAP12})
    body = etree.SubElement(envelope, env + "Body")
    node = etree.SubElement(body, env + "Fault")
    etree.SubElement(etree.SubElement(node, env + "Code"), env + "Value").text = str(fault.code)
    text = etree.SubElement(etree.SubElement(node, env + "Reason"), env + "Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = fault.text()
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def envelope(payload: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"env": SOAP12})
    etree.SubElement(env, f"{{{SOAP12}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def _contract(name: str) -> bytes:
    return resources.files("uec_booking.spine").joinpath("dos_contract", name).read_bytes()


@cache
def wsdl_bytes() -> bytes:
    return _contract(WSDL_FILE)


@cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(_contract(XSD_FILE), _PARSER))


@cache
def soap_actions() -> dict[str, str]:
    """Operation name → its published soapAction (binding `PathWayServiceSoap12`)."""
    root = etree.fromstring(wsdl_bytes(), _PARSER)
    binding = root.find(f"{{{WSDL_NS}}}binding[@name='PathWayServiceSoap12']")
    assert binding is not None, "the published WSDL names binding PathWayServiceSoap12"
    return {
        op.get("name", ""): op.find(f"{{{WSDL_SOAP12}}}operation").get("soapAction", "")  # type: ignore[union-attr]
        for op in binding.findall(f"{{{WSDL_NS}}}operation")
    }


def wsdl_for(address: str) -> bytes:
    """The published WSDL, unchanged but for its `soap12:address`, set to where we run."""
    text = wsdl_bytes()
    old = f'location="{PUBLISHED_ADDRESS}"'.encode()
    new = f'location="{address}"'.encode()
    return text.replace(old, new)


# No DTD, no entities, no network; libxml2's own depth limit stays on (no huge_tree).
_PARSER = etree.XMLParser(
    resolve_entities=False,
    load_dtd=False,
    no_network=True,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class Request:
    operation: str
    payload: etree._Element  # the Body's one child
    service_version: str | None  # the serviceVersion header's text, None when absent


def parse_request(body: bytes) -> Request:
    """A SOAP 1.2 request, parsed safely, or the DosFault that answers it."""
    if not body.strip():
        raise DosFault(108, detail="the request has no body")
    if _DOCTYPE.search(body):
        raise DosFault(108, detail="document type declarations are not accepted")
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise DosFault(108, detail=str(exc).splitlines()[0][:200]) from None
    if root.getroottree().docinfo.doctype:
        raise DosFault(108, detail="document type declarations are not accepted")
    _check_depth(root)
    if root.tag != f"{{{SOAP12}}}Envelope":
        detail = "a SOAP 1.1 envelope" if root.tag == f"{{{SOAP11}}}Envelope" else None
        raise DosFault(108, SOAP_VERSION_UNKNOWN, detail=detail or "not a SOAP 1.2 Envelope")
    header = root.find(f"{{{SOAP12}}}Header")
    soap_body = root.find(f"{{{SOAP12}}}Body")
    children = [c for c in soap_body if isinstance(c.tag, str)] if soap_body is not None else []
    if len(children) != 1:
        raise DosFault(108, detail="the SOAP Body must hold exactly one operation element")
    payload = children[0]
    qname = etree.QName(payload)
    if qname.namespace != TNS or qname.localname not in soap_actions():
        raise DosFault(108, detail=f"{qname.localname} is not an operation of PathWayService")
    version = header.find(f"{{{TNS}}}serviceVersion") if header is not None else None
    return Request(
        operation=qname.localname,
        payload=payload,
        service_version=None if version is None else (version.text or "").strip(),
    )


def _check_depth(root: etree._Element) -> None:
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DosFault(108, detail=f"elements nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in node)


def validate(element: etree._Element) -> None:
    """Raise the DosFault a schema failure earns (the code of the field that failed)."""
    checker = schema()
    if checker.validate(element):
        return
    error = checker.error_log.last_error
    message = error.message if error is not None else "not valid against the v1.5 schema"
    # "Expected is ( X, Y )" names what is missing or out of place; otherwise the element named.
    before, _, expected = message.partition("Expected is")
    names = [n for n in _NAME.findall(expected) if n in FIELD_CODES] or _NAME.findall(before)[:1]
    raise DosFault(FIELD_CODES.get(names[0], 108) if names else 108, detail=message)


def text_of(parent: etree._Element, *path: str) -> str | None:
    """The text of parent/tns:a/tns:b…, or None when an element is absent."""
    node: etree._Element | None = parent
    for name in path:
        node = node.find(f"{{{TNS}}}{name}") if node is not None else None
    return None if node is None else (node.text or "")
