"""Every stand-in runs on its own from the CLI: listens, answers, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from uec_booking.netutil import free_port, wait_for_port
from uec_booking.spine.slapd import ldapsearch_available, slapd_available


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uec_booking", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), out.decode()


@pytest.mark.parametrize(
    ("service", "options"), [("auth", ()), ("pds", ("--open",)), ("dos", ()), ("ssp", ())]
)
def test_http_stand_ins(service: str, options: tuple[str, ...]) -> None:
    port = free_port()
    proc = start(service, "--port", str(port), *options)
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        assert httpx.get(f"http://127.0.0.1:{port}/_health").json() == {"status": "ok"}
    finally:
        stop(proc)


@pytest.mark.parametrize("slapd", [False, True])
def test_sds(slapd: bool) -> None:
    if slapd and slapd_available():
        pytest.skip(f"OPENLDAP SLAPD NOT AVAILABLE: {slapd_available()}")
    if not ldapsearch_available():
        pytest.skip("ldapsearch NOT INSTALLED: skipped")
    port = free_port()
    proc = start("sds", "--port", str(port), *(["--slapd"] if slapd else []))
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        found = subprocess.run(
            [
                "ldapsearch",
                "-x",
                "-LLL",
                "-H",
                f"ldap://127.0.0.1:{port}",
                "-b",
                "uniqueIdentifier=200000000101,ou=Services,o=nhs",
                "nhsMHSPartyKey",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "nhsMHSPartyKey: X26PR1-0000101" in found.stdout
    finally:
        stop(proc)
    assert (
        subprocess.run(["pgrep", "-f", f"ldap://127.0.0.1:{port}/"], capture_output=True).returncode
        == 1
    ), "slapd left running"


def test_auth_keys_from_files_survive_a_restart(tmp_path: object) -> None:
    from pathlib import Path

    from uec_booking.spine.auth_keys import KeySet

    keys_dir = Path(str(tmp_path)) / "keys"
    KeySet().write_directory(keys_dir)
    kids = []
    for _ in range(2):
        port = free_port()
        proc = start("auth", "--port", str(port), "--keys-dir", str(keys_dir))
        try:
            wait_for_port("127.0.0.1", port, timeout=30)
            jwks = httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json").json()
            kids.append(sorted(k["kid"] for k in jwks["keys"]))
        finally:
            stop(proc)
    assert kids[0] == kids[1], "the same keys are published after a restart"
