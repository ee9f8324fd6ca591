"""SDS stand-in: a read-only LDAP directory over the real LDAP protocol, embedded in Python
(ldaptor on Twisted). The same LDIF also runs on OpenLDAP slapd (`spine/slapd.py`).

Twisted's reactor runs once per process, so the embedded server lives in its own process:
`python -m uec_booking.spine.sds --host H --port P --ldif FILE`; `start_embedded_sds` starts
and stops that process for the sandbox and the tests.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uec_booking.netutil import wait_for_port

SIZE_LIMIT = 500


@dataclass
class SdsHandle:
    """A running SDS server: its `url`, and `stop()`."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str] | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=10)  # also closes the pipes
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


def start_embedded_sds(ldif_text: str, host: str = "127.0.0.1", port: int = 8389) -> SdsHandle:
    """Start the embedded LDAP server in a child process; returns once it accepts connections."""
    workdir = tempfile.TemporaryDirectory(prefix="uec-sds-")
    ldif_path = Path(workdir.name) / "sds.ldif"
    ldif_path.write_text(ldif_text, encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uec_booking.spine.sds",
            "--host",
            host,
            "--port",
            str(port),
            "--ldif",
            str(ldif_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    handle = SdsHandle(f"ldap://{host}:{port}", process, workdir)
    try:
        wait_for_port(host, port, timeout=30)
    except TimeoutError:
        handle.stop()
        _, err = process.communicate()
        raise RuntimeError(
            f"the embedded SDS did not start: {err.decode(errors='replace')}"
        ) from None
    return handle


def serve_sds(host: str, port: int, *, ldif_text: str, slapd: bool = False) -> None:
    """Serve SDS in the foreground until SIGTERM/SIGINT (embedded, or on slapd)."""
    if slapd:
        from uec_booking.spine.slapd import start_slapd

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        handle = start_slapd(ldif_text, host=host, port=port)
        print(f"SDS (slapd) on {handle.url}", flush=True)
        try:
            while not stop.wait(0.5):
                if handle.process.poll() is not None:
                    raise RuntimeError("slapd exited")
        finally:
            handle.stop()
        return
    with tempfile.NamedTemporaryFile("w", suffix=".ldif", delete=False, encoding="utf-8") as f:
        f.write(ldif_text)
    try:
        print(f"SDS (embedded) on ldap://{host}:{port}", flush=True)
        _run_reactor(host, port, Path(f.name))
    finally:
        os.unlink(f.name)


def _normalise_filter(node: Any) -> Any:
    """Strip insignificant spaces from equality assertions (RFC 4518), so the seed's
    `(nhsMHSPartyKey= A12345-1234567)` matches, as it does on slapd."""
    from ldaptor.protocols import pureldap

    if isinstance(node, pureldap.LDAPFilter_equalityMatch):
        value = node.assertionValue.value
        stripped = value.strip() if isinstance(value, bytes | str) else value
        return pureldap.LDAPFilter_equalityMatch(
            attributeDesc=node.attributeDesc, assertionValue=pureldap.LDAPAssertionValue(stripped)
        )
    if isinstance(node, pureldap.LDAPFilter_and | pureldap.LDAPFilter_or):
        return type(node)([_normalise_filter(child) for child in node])
    if isinstance(node, pureldap.LDAPFilter_not):
        return pureldap.LDAPFilter_not(_normalise_filter(node.value))
    return node


def _run_reactor(host: str, port: int, ldif_path: Path) -> None:  # pragma: no cover - child process
    from ldaptor import inmemory
    from ldaptor.interfaces import IConnectedLDAPEntry
    from ldaptor.protocols import pureldap
    from ldaptor.protocols.ldap import distinguishedname, ldaperrors
    from ldaptor.protocols.ldap.ldapserver import LDAPServer
    from twisted.internet import defer
    from twisted.internet import reactor as twisted_reactor
    from twisted.internet.protocol import ServerFactory
    from twisted.python.components import registerAdapter

    class ReadOnlyLDAPServer(LDAPServer):  # type: ignore[misc]
        """Anonymous, read-only; searches capped at SIZE_LIMIT entries."""

        def _refuse(self, request: Any, controls: Any, reply: Any) -> Any:
            raise ldaperrors.LDAPUnwillingToPerform("SDS is read-only")

        handle_LDAPAddRequest = _refuse
        handle_LDAPDelRequest = _refuse
        handle_LDAPModifyRequest = _refuse
        handle_LDAPModifyDNRequest = _refuse

        def handle_LDAPSearchRequest(self, request: Any, controls: Any, reply: Any) -> Any:
            self.checkControls(controls)
            if request.baseObject == b"" and request.scope == pureldap.LDAP_SCOPE_baseObject:
                return self.getRootDSE(request, reply)
            limit = min(request.sizeLimit or SIZE_LIMIT, SIZE_LIMIT)
            root = IConnectedLDAPEntry(self.factory)
            try:
                dn = distinguishedname.DistinguishedName(request.baseObject)
            except Exception:
                return defer.succeed(
                    pureldap.LDAPSearchResultDone(
                        resultCode=ldaperrors.LDAPInvalidDNSyntax.resultCode
                    )
                )

            def found(base: Any) -> Any:
                return base.search(
                    filterObject=_normalise_filter(request.filter),
                    attributes=request.attributes,
                    scope=request.scope,
                    derefAliases=request.derefAliases,
                    typesOnly=request.typesOnly,
                )

            def send(entries: list[Any]) -> Any:
                wanted = [a.lower() for a in request.attributes]
                for entry in entries[:limit]:
                    attributes = [
                        (k, entry.get(k))
                        for k in entry.keys()  # noqa: SIM118 (an ldaptor entry, not a dict)
                        if not wanted or b"*" in wanted or k.lower() in wanted
                    ]
                    reply(
                        pureldap.LDAPSearchResultEntry(
                            objectName=entry.dn.getText(), attributes=attributes
                        )
                    )
                code = ldaperrors.LDAPSizeLimitExceeded.resultCode if len(entries) > limit else 0
                return pureldap.LDAPSearchResultDone(resultCode=code)

            def failed(reason: Any) -> Any:
                if reason.check(ldaperrors.LDAPException):
                    return pureldap.LDAPSearchResultDone(resultCode=reason.value.resultCode)
                return pureldap.LDAPSearchResultDone(
                    resultCode=ldaperrors.other, errorMessage=reason.getErrorMessage()
                )

            d = root.lookup(dn)
            d.addCallback(found)
            d.addCallback(send)
            d.addErrback(failed)
            return d

    class Factory(ServerFactory):  # type: ignore[misc]
        protocol = ReadOnlyLDAPServer

        def __init__(self, root: Any) -> None:
            self.root = root

    reactor: Any = twisted_reactor  # Twisted's reactor typing does not describe the module object
    registerAdapter(lambda factory: factory.root, Factory, IConnectedLDAPEntry)  # type: ignore[no-untyped-call]

    def start(root: Any) -> None:
        reactor.listenTCP(port, Factory(root), interface=host)

    with open(ldif_path, "rb") as f:
        data = io.BytesIO(f.read())
    d = inmemory.fromLDIFFile(data)
    d.addCallback(start)
    d.addErrback(lambda failure: (print(failure, file=sys.stderr), reactor.stop()))
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.run(installSignalHandlers=False)


def main() -> None:  # pragma: no cover - child process
    parser = argparse.ArgumentParser(description="Embedded SDS LDAP server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8389)
    parser.add_argument("--ldif", required=True, type=Path)
    args = parser.parse_args()
    _run_reactor(args.host, args.port, args.ldif)


if __name__ == "__main__":  # pragma: no cover
    main()
