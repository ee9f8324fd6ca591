"""`check consumer`: the sandbox in assurance mode. The real stand-ins run as ever
(`uec_booking.sandbox.Sandbox`); recording proxies in front of its SSP and DoS keep every
request the consumer under test makes, and the manifest handed to the vendor points at the
proxies. When the vendor has driven the journeys, the recording is graded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from uec_booking.asgi_server import ThreadedServer
from uec_booking.check.grading import Expectations, grade_consumer
from uec_booking.check.model import Report
from uec_booking.check.recorder import Recording, dos_recorder, ssp_recorder
from uec_booking.check.scripts import SCRIPTS, edge_case_ldif
from uec_booking.netutil import free_port
from uec_booking.sandbox import Sandbox, ServerSet


@dataclass(frozen=True)
class Journey:
    journey_id: str
    nhs_number: str
    postcode: str
    what: str
    cancel: bool = False  # then cancel the booking it made


JOURNEYS = (
    Journey(
        "J1",
        "9000000009",
        "LS1 6AE",
        "Book the first free slot, then cancel it (C1, C6, C16-C31)",
        cancel=True,
    ),
    Journey(
        "J2",
        "9000000025",
        "BD1 1HY",
        "Nearest service has no booking ASID in DoS: continue without booking it (C8)",
    ),
    Journey(
        "J3",
        "9000000041",
        "WF1 2EB",
        "Service's booking ASID has no NhsAS object in SDS: log, continue (C10)",
    ),
    # The scripted journeys: the patient living at the script's postcode, again.
    *(
        Journey(
            f"J{n}",
            "9000000009" if script.postcode == "LS1 6AE" else "9000000017",
            script.postcode,
            f"CheckCapacitySummary {script.nth} for {script.postcode} is scripted: "
            f"{script.what} ({script.requirement})",
        )
        for n, script in enumerate(SCRIPTS, start=4)
    ),
)


@dataclass
class AssuranceSandbox(ServerSet):
    """Start with `start()` (returns the manifest for the consumer under test)."""

    host: str = "127.0.0.1"
    days: int = 2
    db_url: str | None = None
    ssp: Recording = field(default_factory=Recording)
    dos: Recording = field(default_factory=Recording)
    manifest: dict[str, Any] = field(default_factory=dict)
    _stoppers: list[Callable[[], object]] = field(default_factory=list)
    _sandbox: Sandbox | None = None

    def _start(self) -> dict[str, Any]:
        # Plain HTTP: this sandbox grades what the consumer sends; TLS is checked elsewhere.
        self._sandbox = Sandbox(host=self.host, days=self.days, db_url=self.db_url, tls=False)
        self._stoppers.append(self._sandbox.stop)
        real = self._sandbox.start()
        ssp_url = self._serve(ssp_recorder(real["ssp"]["url"], self.ssp))
        dos_real = real["dos"]["wsdl"].split("/app/")[0]
        port = free_port(self.host)
        dos_url = f"http://{self.host}:{port}"
        self._serve(dos_recorder(dos_real, dos_url, self.dos), port)
        sds_url = self._assurance_sds(self._sandbox, real)
        self.manifest = json.loads(json.dumps(real))
        self.manifest.pop("console", None)  # the console would go round the recorders
        self.manifest["ssp"]["url"] = ssp_url
        self.manifest["dos"]["wsdl"] = real["dos"]["wsdl"].replace(dos_real, dos_url)
        self.manifest["sds"]["url"] = sds_url
        self.manifest["assurance"] = {
            "journeys": [j.__dict__ for j in JOURNEYS],
            "recording": ["ssp", "dos"],
        }
        return self.manifest

    def _assurance_sds(self, sandbox: Sandbox, real: dict[str, Any]) -> str:
        """The consumer's SDS: the sandbox's entries and the scripts' edge cases, served by
        the same embedded LDAP server (the SSP keeps checking against the sandbox's own)."""
        from uec_booking.spine.sds import start_embedded_sds
        from uec_booking.spine.sds_ldif import build_ldif

        ldif = build_ldif(sandbox.directory, provider_endpoint=real["provider"]["url"])
        handle = start_embedded_sds(
            ldif + edge_case_ldif(real["provider"]["url"]), self.host, free_port(self.host)
        )
        self._stoppers.append(handle.stop)
        return str(handle.url)

    def _serve(self, app: Any, port: int | None = None) -> str:
        server = ThreadedServer(app, host=self.host, port=port).start()
        self._stoppers.append(server.stop)
        return server.url

    def expectations(self) -> Expectations:
        return Expectations(
            provider_base=self.manifest["provider"]["url"],
            provider_asid=self.manifest["provider"]["asid"],
            consumer_asid=self.manifest["auth"]["asid"],
        )

    def report(self) -> Report:
        report = grade_consumer(
            self.ssp.snapshot(),
            self.dos.snapshot(),
            self.expectations(),
            scripted=self.dos.scripted_snapshot(),
        )
        report.notes.append(
            f"{len(self.ssp.snapshot())} requests recorded at the SSP, {len(self.dos.snapshot())} at DoS"
        )
        report.notes.append(
            "not graded here: C2-C4 (booking-only: what the user is offered is not on the "
            "wire), C19 with unsafe characters in an SDS endpoint (no provider answers there)"
        )
        return report


def drive_own_consumer(manifest: dict[str, Any]) -> list[str]:
    """Self-test: our consumer library drives every journey; returns one line per journey."""
    from uec_booking.consumer.config import from_manifest, load_config
    from uec_booking.consumer.request import BookingRequest
    from uec_booking.consumer.wiring import build_workflow

    workflow = build_workflow(load_config(**from_manifest(manifest)))
    lines = []

    async def run() -> None:
        for journey in JOURNEYS:
            now = datetime.now(UTC)
            result = await workflow.run(
                BookingRequest(
                    nhs_number=journey.nhs_number,
                    postcode=journey.postcode,
                    earliest=now,
                    latest=now + timedelta(hours=48),
                )
            )
            booked = result.appointment
            said = f"booked {booked.id}" if booked else result.error or "no booking"
            lines.append(f"{journey.journey_id}: {said}")
            if booked and journey.cancel and result.provider_url and result.provider_asid:
                await workflow.provider.cancel(
                    endpoint=result.provider_url,
                    to_asid=result.provider_asid,
                    appointment_id=booked.id,
                    trace_id=result.trace_id,
                )
                lines.append(f"{journey.journey_id}: cancelled {booked.id}")

    asyncio.run(run())
    return lines
