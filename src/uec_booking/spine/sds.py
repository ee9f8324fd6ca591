"""SDS stand-in: a read-only LDAP directory over the real LDAP protocol, embedded in Python
(ldaptor on Twisted). The same LDIF also runs on OpenLDAP slapd (`spine/slapd.py`).

Twisted's reactor runs once per process, so the embedded server lives in its own process:
`python -m uec_booking.spine.sds --host H --port P --ldif FILE [--tls-cert C --tls-key K
[--tls-client-ca CA] [--starttls]]`; `start_embedded_sds` starts and stops that process for
the sandbox and the tests, its output going to a log file (a pipe nobody reads would block
it once full).

As live SDS: ldaps (or StartTLS on plain LDAP), a client certificate from the Spine CA when
`--tls-client-ca` is given, equality matching case-exact where the live schema says
`caseExactMatch` (an upper-cased interaction id does not match), and filters nested deeper
than MAX_FILTER_DEPTH refused with adminLimitExceeded instead of recursing.
"""

from __future__ import annotations

import argparse
import io
import os
import re
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
MAX_FILTER_DEPTH = 32  # SDS lookups nest two levels; ldaptor recurses per level


@dataclass(frozen=True)
class SdsTLS:
    """TLS for an SDS server: ldaps (default) or StartTLS on a plain LDAP port."""

    cert: Path
    key: Path
    client_ca: Path | None = None
    starttls: bool = False

    def args(self) -> list[str]:
        out = ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]
        if self.client_ca:
            out += ["--tls-client-ca", str(self.client_ca)]
        return out + (["--starttls"] if self.starttls else [])

    def scheme(self) -> str:
        return "ldap" if self.starttls else "ldaps"


@dataclass
class SdsHandle:
    """A running SDS server: its `url`, and `stop()`."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str] | None = None

    log: Path | None = None

    def output(self) -> str:
        """What the server wrote to its log so far."""
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def started(self, host: str, port: int, what: str) -> SdsHandle:
        """This handle once the server accepts connections; stopped, with what it printed in
        the error, when it never does."""
        try:
            wait_for_port(host, port, timeout=30)
        except TimeoutError:
            output = self.output()
            self.stop()
            raise RuntimeError(f"{what} did not start: {output}") from None
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


def start_embedded_sds(
    ldif_text: str, host: str = "127.0.0.1", port: int = 8389, *, tls: SdsTLS | None = None
) -> SdsHandle:
    """Start the embedded LDAP server in a child process; returns once it accepts connections."""
    workdir = tempfile.TemporaryDirectory(prefix="uec-sds-")
    ldif_path = Path(workdir.name) / "sds.ldif"
    ldif_path.write_text(ldif_text, encoding="utf-8")
    log_path = Path(workdir.name) / "sds.log"
    log_file = log_path.open("wb")
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
            *(tls.args() if tls else []),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log_file.close()  # the child holds its own descriptor
    scheme = tls.scheme() if tls else "ldap"
    handle = SdsHandle(f"{scheme}://{host}:{port}", process, workdir, log_path)
    return handle.started(host, port, "the embedded SDS")


def serve_sds(
    host: str, port: int, *, ldif_text: str, slapd: bool = False, tls: SdsTLS | None = None
) -> None:
    """Serve SDS in the foreground until SIGTERM/SIGINT (embedded, or on slapd)."""
    if slapd:
        from uec_booking.spine.slapd import start_slapd

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        handle = start_slapd(ldif_text, host=host, port=port, tls=tls)
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
        print(f"SDS (embedded) on {tls.scheme() if tls else 'ldap'}://{host}:{port}", flush=True)
        _run_reactor(host, port, Path(f.name), tls)
    finally:
        os.unlink(f.name)


def filter_depth(node: Any) -> int:
    """How deeply `node` nests and/or/not (iteratively: the depth is what is being bounded)."""
    from ldaptor.protocols import pureldap

    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_FILTER_DEPTH:
            break
        if isinstance(current, pureldap.LDAPFilter_and | pureldap.LDAPFilter_or):
            stack += [(child, depth + 1) for child in current]
        elif isinstance(current, pureldap.LDAPFilter_not):
            stack.append((current.value, depth + 1))
    return deepest


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _prepare(value: str, exact: bool) -> str:
    """RFC 4518 string preparation, in short: insignificant spaces go (so the seed's
    `(nhsMHSPartyKey= A12345-1234567)` matches, as on slapd); case goes unless exact."""
    value = " ".join(value.split())
    return value if exact else value.casefold()


def _exact(attribute: str) -> bool:
    from uec_booking.spine.sds_schema import equality

    try:
        return equality(attribute) in ("caseExactMatch", "caseExactIA5Match")
    except StopIteration:  # not an SDS attribute (objectClass, o, ou): case-insensitive
        return False


def matches(entry: Any, node: Any) -> bool:
    """Whether an ldaptor entry matches a filter, with each attribute's matching rule from
    the live SDS schema (ldaptor itself compares every attribute case-insensitively)."""
    from ldaptor.protocols import pureldap

    if isinstance(node, pureldap.LDAPFilter_and):
        return all(matches(entry, child) for child in node)
    if isinstance(node, pureldap.LDAPFilter_or):
        return any(matches(entry, child) for child in node)
    if isinstance(node, pureldap.LDAPFilter_not):
        return not matches(entry, node.value)
    if isinstance(node, pureldap.LDAPFilter_present):
        return _text(node.value) in entry
    if isinstance(node, pureldap.LDAPFilter_equalityMatch):
        attribute = _text(node.attributeDesc.value)
        exact = _exact(attribute)
        wanted = _prepare(_text(node.assertionValue.value), exact)
        return any(_prepare(_text(v), exact) == wanted for v in entry.get(attribute, []))
    if isinstance(node, pureldap.LDAPFilter_substrings):
        attribute = _text(node.type)
        exact = _exact(attribute)
        pattern = ""
        for part in node.substrings:
            text = re.escape(_prepare(_text(part.value), exact))
            if isinstance(part, pureldap.LDAPFilter_substrings_initial):
                pattern = "^" + text + ".*"
            elif isinstance(part, pureldap.LDAPFilter_substrings_final):
                pattern += text + "$"
            else:
                pattern += text + ".*"
        regex = re.compile(pattern if pattern.startswith("^") else ".*" + pattern)
        return any(regex.match(_prepare(_text(v), exact)) for v in entry.get(attribute, []))
    return False  # ordering, approximate and extensible matches: SDS clients use none


def _run_reactor(  # pragma: no cover - child process
    host: str, port: int, ldif_path: Path, tls: SdsTLS | None = None
) -> None:
    from ldaptor import inmemory
    from ldaptor.interfaces import IConnectedLDAPEntry
    from ldaptor.protocols import pureldap
    from ldaptor.protocols.ldap import distinguishedname, ldaperrors
    from ldaptor.protocols.ldap.ldapserver import LDAPServer
    from twisted.internet import defer
    from twisted.internet import reactor as twisted_reactor
    from twisted.internet import ssl as twisted_ssl
    from twisted.internet.protocol import ServerFactory
    from twisted.python.components import registerAdapter

    options: Any = None
    if tls is not None:
        pem = tls.cert.read_bytes() + tls.key.read_bytes()
        own = twisted_ssl.PrivateCertificate.loadPEM(pem)  # type: ignore[no-untyped-call]
        authorities = (
            [twisted_ssl.Certificate.loadPEM(tls.client_ca.read_bytes())] if tls.client_ca else []
        )
        # With authorities: a client certificate from them is required (Spine's TLS-MA).
        options = own.options(*authorities)

    class ReadOnlyLDAPServer(LDAPServer):  # type: ignore[misc]
        """Anonymous, read-only; searches capped at SIZE_LIMIT entries."""

        def dataReceived(self, data: bytes) -> None:
            try:
                super().dataReceived(data)
            except RecursionError:
                # A message nested too deeply to decode: say so and hang up, rather than
                # let a traceback escape (each message is decoded before it has an id).
                print("refused an LDAP message nested too deeply to decode", flush=True)
                self.transport.loseConnection()

        def _refuse(self, request: Any, controls: Any, reply: Any) -> Any:
            raise ldaperrors.LDAPUnwillingToPerform("SDS is read-only")

        handle_LDAPAddRequest = _refuse
        handle_LDAPDelRequest = _refuse
        handle_LDAPModifyRequest = _refuse
        handle_LDAPModifyDNRequest = _refuse

        def extendedRequest_LDAPStartTLSRequest(self, data: Any, reply: Any) -> Any:
            if options is None or not (tls and tls.starttls):
                raise ldaperrors.LDAPProtocolError(b"StartTLS is not offered on this port")
            reply(pureldap.LDAPStartTLSResponse(resultCode=0))  # sent in the clear, then TLS
            self.transport.startTLS(options)
            return None

        extendedRequest_LDAPStartTLSRequest.oid = pureldap.LDAPStartTLSRequest.oid  # type: ignore[attr-defined]

        def handle_LDAPSearchRequest(self, request: Any, controls: Any, reply: Any) -> Any:
            self.checkControls(controls)
            if request.baseObject == b"" and request.scope == pureldap.LDAP_SCOPE_baseObject:
                return self.getRootDSE(request, reply)
            if filter_depth(request.filter) > MAX_FILTER_DEPTH:
                return defer.succeed(
                    pureldap.LDAPSearchResultDone(
                        resultCode=ldaperrors.LDAPAdminLimitExceeded.resultCode,
                        errorMessage=f"filters nest at most {MAX_FILTER_DEPTH} levels deep",
                    )
                )
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
                # Every entry in scope, then our matching (the live schema's rules).
                return base.search(
                    filterObject=pureldap.LDAPFilter_present("objectClass"),
                    attributes=request.attributes,
                    scope=request.scope,
                    derefAliases=request.derefAliases,
                    typesOnly=request.typesOnly,
                )

            def send(entries: list[Any]) -> Any:
                entries = [e for e in entries if matches(e, request.filter)]
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
        if options is not None and not (tls and tls.starttls):
            reactor.listenSSL(port, Factory(root), options, interface=host)
        else:
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
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--tls-client-ca", type=Path)
    parser.add_argument("--starttls", action="store_true")
    args = parser.parse_args()
    tls = (
        SdsTLS(args.tls_cert, args.tls_key, args.tls_client_ca, args.starttls)
        if args.tls_cert and args.tls_key
        else None
    )
    _run_reactor(args.host, args.port, args.ldif, tls)


if __name__ == "__main__":  # pragma: no cover
    main()
