"""The consumer system: typed clients for each national service and the booking workflow.

The names below are the library's public API (README, "The consumer library"); the errors
and the workflow's events are used through their modules (`errors.SlotTaken`,
`events.SlotGone`). Everything else in the package may change without notice."""

from uec_booking.consumer import errors, events
from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens, TokenSource
from uec_booking.consumer.config import ConsumerAuthMode, ConsumerConfig, SdsMode, load_config
from uec_booking.consumer.dos import DosClient
from uec_booking.consumer.journal import Journal, JourneyRecorder
from uec_booking.consumer.models import (
    BookedAppointment,
    DosCase,
    DosService,
    DosServiceDetails,
    FreeSlot,
    VerifiedPatient,
)
from uec_booking.consumer.pds import PdsClient
from uec_booking.consumer.platform_auth import PlatformTokens
from uec_booking.consumer.provider import ProviderClient
from uec_booking.consumer.request import BookingRequest, BookingResult
from uec_booking.consumer.sds import SdsClient
from uec_booking.consumer.sds_fhir import SdsFhirClient
from uec_booking.consumer.wiring import build_workflow
from uec_booking.consumer.workflow import BookingRoute, BookingWorkflow

__all__ = [
    "BookedAppointment",
    "BookingRequest",
    "BookingResult",
    "BookingRoute",
    "BookingWorkflow",
    "ClientCredentialsTokens",
    "ConsumerAuthMode",
    "ConsumerConfig",
    "DosCase",
    "DosClient",
    "DosService",
    "DosServiceDetails",
    "FreeSlot",
    "InterimTokens",
    "Journal",
    "JourneyRecorder",
    "PdsClient",
    "PlatformTokens",
    "ProviderClient",
    "SdsClient",
    "SdsFhirClient",
    "SdsMode",
    "TokenSource",
    "VerifiedPatient",
    "build_workflow",
    "errors",
    "events",
    "load_config",
]
