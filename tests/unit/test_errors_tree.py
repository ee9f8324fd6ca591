"""The error tree drawn in `fhir/errors.py` is the one the classes make."""

from __future__ import annotations

import re

from uec_booking.fhir import errors
from uec_booking.fhir.errors import FhirError

_ROW = re.compile(r"^\s*(?:[│ ]*[├└]── )?(?P<name>\w+)\s*(?P<status>\d{3})?")


def _drawn() -> dict[str, tuple[int | None, str | None]]:
    """Each class the docstring draws: its status, and the class it hangs under."""
    doc = errors.__doc__ or ""
    tree = [line for line in doc.splitlines() if "── " in line or line.strip() == "FhirError"]
    drawn: dict[str, tuple[int | None, str | None]] = {}
    parents: list[str] = []
    for line in tree:
        match = _ROW.match(line)
        assert match, line
        depth = line.find(match["name"]) // 4 - 1
        parents = parents[: max(depth, 0)]
        parent = parents[-1] if parents else None
        drawn[match["name"]] = (int(match["status"]) if match["status"] else None, parent)
        parents.append(match["name"])
    return drawn


def _classes() -> dict[str, type[FhirError]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, FhirError)
    }


def test_the_drawn_tree_is_the_class_tree() -> None:
    drawn, classes = _drawn(), _classes()
    assert set(drawn) == set(classes)
    for name, (status, parent) in drawn.items():
        cls = classes[name]
        if parent is not None:
            assert cls.__bases__ == (classes[parent],), name
            assert cls.status == status, name


def test_a_stale_if_match_is_a_conflict_and_a_missing_one_a_failed_precondition() -> None:
    drawn = _drawn()
    doc = errors.__doc__ or ""
    conflict = next(line for line in doc.splitlines() if "Conflict " in line)
    precondition = next(line for line in doc.splitlines() if "PreconditionFailed" in line)
    assert "stale If-Match" in conflict and drawn["Conflict"][0] == 409
    assert "missing" in precondition and "stale" not in precondition


def test_class_keywords_set_the_outcome_and_subclasses_inherit_it() -> None:
    assert (errors.SlotUnavailable.status, errors.SlotUnavailable.issue_code) == (422, "processing")
    assert errors.SlotUnavailable.spine_code is None
    assert errors.Unprocessable.spine_code == "INVALID_RESOURCE"
    assert errors.SlotUnavailable().diagnostics == errors.SlotUnavailable.DIAGNOSTICS
    assert errors.BadGateway("x").spine == "INTERNAL_SERVER_ERROR"
