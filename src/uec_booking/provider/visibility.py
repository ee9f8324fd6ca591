"""Which consumers see which slots (`fs_slotmanagement`; GP Connect's slot availability
management does the same): the provider decides, by the token's organisation (ODS code),
that organisation's type, or its ASID.

A Schedule with no rule is seen by every consumer. A rule names ODS codes, ASIDs and
organisation types (the types of the consumer organisations the provider knows, table
`consumer_organisation`); a consumer that matches any of them sees the Schedule's slots,
any other sees none of them and books them as if they were not free (422). With
authentication off there is no caller to decide by: every slot is shown (local development).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from uec_booking.provider.store.appointments import Provenance


@dataclass(frozen=True, slots=True)
class Rule:
    ods: frozenset[str] = frozenset()
    asids: frozenset[str] = frozenset()
    organisation_types: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, text: str) -> Rule:
        data: dict[str, Any] = orjson.loads(text)
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Rule:
        unknown = set(data) - {"ods", "asid", "organisation_types"}
        if unknown:
            raise ValueError(f"Unknown visible_to keys: {', '.join(sorted(unknown))}")
        return cls(
            frozenset(str(v).upper() for v in data.get("ods", [])),
            frozenset(str(v) for v in data.get("asid", [])),
            frozenset(str(v) for v in data.get("organisation_types", [])),
        )

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "ods": sorted(self.ods),
                "asid": sorted(self.asids),
                "organisation_types": sorted(self.organisation_types),
            }
        ).decode()

    def admits(self, who: Provenance, organisation_type: str | None) -> bool:
        return (
            (who.ods is not None and who.ods.upper() in self.ods)
            or (who.asid is not None and who.asid in self.asids)
            or (organisation_type is not None and organisation_type in self.organisation_types)
        )


@dataclass(frozen=True, slots=True)
class Visibility:
    """The rules of every restricted Schedule and the known consumer organisations' types."""

    rules: dict[str, Rule] = field(default_factory=dict)  # Schedule id -> rule
    organisation_types: dict[str, str] = field(default_factory=dict)  # ODS code -> type

    def hidden_for(
        self, who: Provenance | None, schedule_ids: Iterable[str] | None = None
    ) -> frozenset[str]:
        """The Schedules (of `schedule_ids`, or all) whose slots `who` may not see; None:
        nobody to decide by (authentication off), nothing hidden."""
        if who is None or not self.rules:
            return frozenset()
        kind = self.organisation_types.get((who.ods or "").upper())
        wanted = (
            self.rules
            if schedule_ids is None
            else {s: self.rules[s] for s in schedule_ids if s in self.rules}
        )
        return frozenset(s for s, rule in wanted.items() if not rule.admits(who, kind))


NOT_ALLOWED_ANY = (
    "This consumer is not allowed to see any of the slots of this HealthcareService "
    "(the provider restricts them to other consumers)"
)
