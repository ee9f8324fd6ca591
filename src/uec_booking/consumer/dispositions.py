"""NHS Pathways dispositions: how soon each needs to be seen, and the DoS id DoS searches by.

Timeframes: a slot starting later than that would "cause a breach" (the reporting metrics
rep-cons-04/05/09 count those). A sample table for the dispositions the sandbox uses; a
deployment supplies its own (the national list is maintained by NHS Pathways).

DoS ids: CheckCapacitySummary's `disposition` is an int, the id of the DoS disposition group
(`ccs_search_logic_v1_5.md`: "It is the ID of the Disposition Group which is passed in"), not
the Dx code. No published table maps one to the other; the rule here is NHS 111 Online's, the
national consumer of the same API (repo `NHSChoices/nhs111-online`, commit
`ebd76f3fff32d3765454155d96ea69a0c598a5ae`, path
`NHS111/NHS111.Models/Mappers/WebMappings/FromOutcomeViewModelToDosViewModel.cs`,
`DispositionResolver`): a Dx code with two digits maps to `10` + digits (Dx05 → 1005), one with
three to `11` + digits (Dx117 → 11117). The sandbox DoS is profiled with the same ids.

Names: NHS Pathways' own, as the standard's documentation lists them for the dispositions that
should end in an appointment (repo `nhsd-a2si/docs-uec-appts`, commit
`37d471b19c66990e1e49d24ec88c9d017b5b4014`, path `_pages/functional_spec/fs_slotmap.md`; see
docs/STANDARD.md). That list reads "within 2" … "within 24" for Dx05-Dx08, the unit left off;
hours, as for its Dx11-Dx15. The sandbox uses only these dispositions. A code outside the
table (a deployment's own) is shown by code and the default timeframe, never a made-up name.
"""

from __future__ import annotations

import re
from datetime import timedelta

# The dispositions the standard lists as ending in an appointment with a time to be seen in
# hours (fs_slotmap.md; its GP-practice ones, Dx09, Dx10, Dx75, Dx81 and Dx115, give none).
TIMEFRAMES: dict[str, timedelta] = {
    "Dx05": timedelta(hours=2),
    "Dx06": timedelta(hours=6),
    "Dx07": timedelta(hours=12),
    "Dx08": timedelta(hours=24),
    "Dx11": timedelta(hours=1),
    "Dx12": timedelta(hours=2),
    "Dx13": timedelta(hours=6),
    "Dx14": timedelta(hours=12),
    "Dx15": timedelta(hours=24),
    "Dx117": timedelta(hours=1),
}
NAMES: dict[str, str] = {
    "Dx05": "To contact a Primary Care Service within 2 hours",
    "Dx06": "To contact a Primary Care Service within 6 hours",
    "Dx07": "To contact a Primary Care Service within 12 hours",
    "Dx08": "To contact a Primary Care Service within 24 hours",
    "Dx11": "Speak to a Primary Care Service within 1 Hour",
    "Dx12": "Speak to a Primary Care Service within 2 Hours",
    "Dx13": "Speak to a Primary Care Service within 6 Hours",
    "Dx14": "Speak to a Primary Care Service within 12 Hours",
    "Dx15": "Speak to a Primary Care Service within 24 Hours",
    "Dx117": "Speak to a Primary Care Service within 1 hour for Palliative Care",
}
DEFAULT = timedelta(hours=24)
_DX = re.compile(r"^Dx(\d{2,3})$", re.IGNORECASE)


def timeframe(disposition: str) -> timedelta:
    return TIMEFRAMES.get(disposition, DEFAULT)


def label(disposition: str) -> str:
    """How a person reads it: `Dx05 To contact a Primary Care Service within 2 hours`, or for
    a disposition outside the table its code and timeframe (`Dx02: to be seen within 24
    hours`)."""
    if disposition in NAMES:
        return f"{disposition} {NAMES[disposition]}"
    hours = int(timeframe(disposition).total_seconds() // 3600)
    return f"{disposition}: to be seen within {hours} hour{'s' if hours != 1 else ''}"


def dos_disposition_id(disposition: str | int) -> int:
    """The DoS disposition id for a Dx code (`Dx05` → 1005); an id passes through unchanged.

    Raises ValueError for anything that is neither."""
    if isinstance(disposition, int):
        return disposition
    text = disposition.strip()
    if text.isdigit():
        return int(text)
    match = _DX.match(text)
    if match is None:
        raise ValueError(f"{disposition!r} is neither an NHS Pathways Dx code nor a DoS id")
    digits = match.group(1)
    return int(("10" if len(digits) == 2 else "11") + digits)
