"""Interaction IDs: the `Ssp-InteractionID` header, SDS `nhsMhsSvcIA` values and auth groups.

The assurance scripts call Slot search `read:slot`; the companion spec calls it
`search:slot`. Both are accepted everywhere and normalised to `read:slot`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

PREFIX: Final = "urn:nhs:names:services:careconnect:fhir:rest:"


class Interaction(StrEnum):
    """The standard's interactions, valued by their full interaction IDs."""

    READ_METADATA = PREFIX + "read:metadata"
    READ_SLOT = PREFIX + "read:slot"
    CREATE_APPOINTMENT = PREFIX + "create:appointment"
    READ_APPOINTMENT = PREFIX + "read:appointment"
    SEARCH_APPOINTMENT = PREFIX + "search:appointment"
    UPDATE_APPOINTMENT = PREFIX + "update:appointment"
    # Reads of the directory resources a slot search can include.
    READ_DIRECTORY = PREFIX + "read:directory"

    @property
    def short(self) -> str:
        """The name without the URN prefix, as used in token `groups` (`read:slot`)."""
        return self.value.removeprefix(PREFIX)


ALIASES: Final[dict[str, Interaction]] = {
    PREFIX + "search:slot": Interaction.READ_SLOT,
    "search:slot": Interaction.READ_SLOT,
}

# What a booking consumer is assured for: every interaction of the booking flow.
BOOKING_INTERACTIONS: Final[tuple[Interaction, ...]] = (
    Interaction.READ_METADATA,
    Interaction.READ_SLOT,
    Interaction.CREATE_APPOINTMENT,
    Interaction.READ_APPOINTMENT,
    Interaction.SEARCH_APPOINTMENT,
    Interaction.UPDATE_APPOINTMENT,
)


def parse_interaction(value: str) -> Interaction | None:
    """The Interaction for an ID or its short form (aliases included), or None if unknown."""
    value = value.strip()
    if value in ALIASES:
        return ALIASES[value]
    full = value if value.startswith(PREFIX) else PREFIX + value
    try:
        return Interaction(full)
    except ValueError:
        return None
