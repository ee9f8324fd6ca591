"""How soon each NHS Pathways disposition needs to be seen: a slot starting later than that
would "cause a breach" (the reporting metrics rep-cons-04/05/09 count those).

A sample table for the dispositions the sandbox uses; a deployment supplies its own (the
national list is maintained by NHS Pathways).
"""

from __future__ import annotations

from datetime import timedelta

TIMEFRAMES: dict[str, timedelta] = {
    "Dx02": timedelta(hours=1),
    "Dx05": timedelta(hours=2),
    "Dx06": timedelta(hours=6),
    "Dx11": timedelta(hours=1),
    "Dx12": timedelta(hours=2),
    "Dx13": timedelta(hours=6),
    "Dx17": timedelta(hours=12),
    "Dx118": timedelta(hours=24),
}
DEFAULT = timedelta(hours=24)


def timeframe(disposition: str) -> timedelta:
    return TIMEFRAMES.get(disposition, DEFAULT)
