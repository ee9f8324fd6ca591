"""`uec-booking serve sandbox`: every service on loopback until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from uec_booking.asgi_server import RequestTimeouts
from uec_booking.cli_errors import UserError
from uec_booking.cli_options import options
from uec_booking.sandbox import PORT_OFFSETS, Sandbox


def summary(manifest: dict[str, Any]) -> str:
    """One line per service: where it is; the manifest file has the rest."""
    lines = []
    for name, info in manifest.items():
        if isinstance(info, dict):
            where = info.get("url") or info.get("wsdl") or info.get("token_url") or ""
            lines.append(f"  {name:<10} {where}")
    patients = manifest.get("patients") or []
    if patients:
        lines.append(f"  {'patients':<10} e.g. NHS number {patients[0]['nhs_number']}")
    return "\n".join(lines)


def check_ports_free(host: str, base_port: int) -> None:
    """Fail before starting anything when a port of the layout is taken."""
    for name, offset in PORT_OFFSETS.items():
        port = base_port + offset
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise UserError(
                    f"port {port} ({name}) on {host} is in use ({exc.strerror}): stop what holds "
                    "it, or choose another --base-port (0 = any free ports)"
                ) from exc


class AuthModeChoice(StrEnum):
    SIGNED = "signed"
    INTERIM = "interim"


@options("serve sandbox")
def serve_sandbox(
    host: str,
    base_port: int,
    ports_file: Path,
    db: str | None,
    days: int,
    slapd: bool,
    auth_mode: AuthModeChoice,
    tls: bool,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
) -> None:
    """Run PDS, DoS, SDS, NHS auth, the SSP and a seeded provider on loopback."""
    if base_port:
        check_ports_free(host, base_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(
        host=host,
        base_port=base_port or None,
        db_url=db,
        days=days,
        slapd=slapd,
        auth_mode=auth_mode.value,
        tls=tls,
        timeouts=RequestTimeouts.from_env(request_head_timeout, request_body_timeout),
    )
    manifest = sandbox.start()
    try:
        sandbox.write_manifest(ports_file)
        typer.echo(summary(manifest))
        typer.echo(
            f"manifest: {ports_file} (use it as --config); sandbox running, Ctrl-C or SIGTERM stops it"
        )
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        if ports_file.exists():
            ports_file.unlink()
