"""Capability cases: the test kit's EB_Capability chains (format by Accept and `_format`,
either overriding, gzip) and the CapabilityStatement the assurance scripts' P8 asks for."""

from __future__ import annotations

from uec_booking.check.model import CaseResult
from uec_booking.check.registry import (
    KIT,
    WORKBOOK,
    Ctx,
    case,
    gzipped,
    media,
    resource_type,
    status,
)
from uec_booking.check.wire import JSON, XML
from uec_booking.fhir.interactions import Interaction

CAP = KIT + "EB_Capability.tstp; " + WORKBOOK + "CConnect-ApptTest_7 (P8), P9"


def _capability(case_id: str, query: str, accept: str | None, fmt: str, gzip: bool = False) -> None:
    @case(case_id, f"CapabilityStatement ({query or 'no _format'}, Accept {accept or 'none'})", CAP)
    async def run(ctx: Ctx, result: CaseResult) -> None:
        headers = {"Accept": accept} if accept else {}
        if gzip:
            headers["Accept-Encoding"] = "gzip"
        resp = await ctx.wire.send(
            result,
            "GET",
            "/metadata" + query,
            interaction=Interaction.READ_METADATA,
            headers=headers,
        )
        status(result, resp, 200)
        res = resource_type(result, resp, "CapabilityStatement")
        media(result, resp, fmt)
        if gzip:
            gzipped(result, resp)
        if res is not None and case_id == "Capability_json_accept":
            result.expect(
                "fhirVersion", "3.0.1", res.get("fhirVersion"), res.get("fhirVersion") == "3.0.1"
            )
            result.expect(
                "acceptUnknown",
                "both",
                res.get("acceptUnknown"),
                res.get("acceptUnknown") == "both",
            )
            formats = set(res.get("format") or [])
            result.expect(
                "formats JSON and XML",
                "json and xml in format",
                sorted(formats),
                any("json" in f for f in formats) and any("xml" in f for f in formats),
            )
            software = res.get("software") or {}
            result.expect(
                "software name and version (capability_software_*)",
                "both present",
                software,
                bool(software.get("name") and software.get("version")),
            )


_capability("Capability_xml_accept", "", XML, "xml")
_capability("Capability_json_accept", "", JSON, "json")
_capability("Capability_xml_parameter", "?_format=application/fhir%2Bxml", None, "xml")
_capability("Capability_json_parameter", "?_format=application/fhir%2Bjson", None, "json")
_capability("Capability_xml_parameter_json_accept", "?_format=application/fhir%2Bxml", JSON, "xml")
_capability("Capability_json_parameter_xml_accept", "?_format=application/fhir%2Bjson", XML, "json")
_capability("Capability_xml_accept_gzip", "", XML, "xml", gzip=True)
