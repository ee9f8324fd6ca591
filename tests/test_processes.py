"""Our servers as child processes: a chatty child never stalls on a pipe nobody reads, and a
provider that never answers is a loud error, not a dead server handed back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from uec_booking.processes import start_provider, stop


def test_a_chatty_provider_does_not_stall(tmp_path: Path) -> None:
    # With the request log on, 2,000 requests write far more than a pipe holds (64 kB):
    # a child writing into an unread pipe would block and these requests would time out.
    proc, base = start_provider(
        f"sqlite:///{tmp_path / 'p.sqlite3'}", env={"UEC_ACCESS_LOG": "true"}
    )
    try:
        with httpx.Client(timeout=10) as client:
            statuses = {client.get(f"{base}/metadata").status_code for _ in range(2000)}
        assert statuses == {200}
    finally:
        out = stop(proc)
    assert out.count('"status"') >= 2000 or out.count("metadata") >= 2000, out[-2000:]


def test_a_provider_that_never_answers_is_a_loud_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="never answered"):
        start_provider(f"sqlite:///{tmp_path / 'missing-dir' / 'p.sqlite3'}")
