"""The consumer library's public API is deliberate: `__all__` names what exists, README
documents exactly it (in the spirit of httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import uec_booking.consumer as consumer
from uec_booking.consumer import errors, events

README = Path(__file__).resolve().parents[2] / "README.md"


def documented() -> set[str]:
    text = README.read_text(encoding="utf-8")
    [table] = re.findall(r"<!-- consumer-api -->\n(.*?)<!-- /consumer-api -->", text, re.S)
    first_cells = [row.split("|")[1] for row in table.splitlines()[2:] if row.startswith("|")]
    return {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}


def test_every_exported_name_exists_and_comes_from_the_consumer() -> None:
    assert len(consumer.__all__) == len(set(consumer.__all__))
    for name in consumer.__all__:
        value = getattr(consumer, name)
        where = value.__name__ if isinstance(value, types.ModuleType) else value.__module__
        assert where.startswith("uec_booking.consumer."), (name, where)


def test_the_readme_documents_exactly_what_is_exported() -> None:
    assert documented() == set(consumer.__all__)


def test_the_modules_exported_hold_the_whole_error_tree_and_every_event() -> None:
    # A new error or event is reached through `errors` / `events`, so nothing is left out
    # of the API by forgetting to list it.
    def subclasses(base: type) -> set[type]:
        return {base} | {c for sub in base.__subclasses__() for c in subclasses(sub)}

    assert {c.__module__ for c in subclasses(errors.ConsumerError)} == {errors.__name__}
    assert {c.__module__ for c in subclasses(events.WorkflowEvent)} == {events.__name__}
    assert consumer.errors is errors and consumer.events is events
