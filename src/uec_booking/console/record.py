"""The one way the console writes its journal: every row goes through `Recorder`, and the
synchronous journal runs in a worker thread, never on the event loop."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from uec_booking.console.journeys import Journey
from uec_booking.consumer import events
from uec_booking.consumer.journal import Journal, JourneyRecorder


class Recorder:
    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal

    async def record(self, journey: Journey, kind: str, **fields: Any) -> None:
        """A console-only event (top service passed over, cancelled, rebooked)."""
        if self.journal is not None:
            await run_in_threadpool(
                self.journal.record,
                journey.trace_id,
                kind,
                disposition=journey.disposition,
                **fields,
            )

    async def workflow_events(
        self, journey: Journey, happened: list[events.WorkflowEvent], service_id: str | None
    ) -> None:
        """The workflow steps' events, as the library's `JourneyRecorder` maps them."""
        if self.journal is None or not happened:
            return
        recorder = JourneyRecorder(
            self.journal, trace_id=journey.trace_id, disposition=journey.disposition
        )
        recorder.service_id = service_id

        def write() -> None:
            for event in happened:
                recorder(event)

        await run_in_threadpool(write)
