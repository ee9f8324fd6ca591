"""TLS as docs/DEPLOYMENT.md ("TLS") tells a provider to serve it, over real sockets: the real
`uec-booking serve provider --tls-cert/--tls-key [--tls-client-ca] [--behind-tls-proxy]` as a
child process, and HAProxy with the shipped `deploy/haproxy.cfg` terminating TLS-MA in front of
one provider. Certificates from the sandbox CA (`uec_booking.tls`), a second CA for a stranger."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import haproxy
from uec_booking.asgi_server import HSTS
from uec_booking.netutil import free_port
from uec_booking.processes import output, start_provider, stop
from uec_booking.tls import CertificateAuthority, Credential

HAPROXY_CFG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
# What a client sees when the server hangs up in (or right after) the handshake.
REFUSED = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA the clients trust, and the provider's --tls-client-ca (Spine's)
    server: Credential
    ssp: Credential  # a client certificate from `ca`
    stranger: Credential  # a client certificate from another CA


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    ca = CertificateAuthority.create(tmp_path_factory.mktemp("spine-ca"))
    other = CertificateAuthority.create(tmp_path_factory.mktemp("other-ca"), name="another CA")
    return Certs(
        ca.cert,
        ca.issue("provider", "provider.example.nhs.uk"),
        ca.issue("ssp", "ssp.example.nhs.uk"),
        other.issue("stranger", "ssp.example.nhs.uk"),
    )


def client(
    certs: Certs, cert: Credential | None = None, *, max_tls: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client trusting `certs.ca`, presenting `cert` when given."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    if max_tls is not None:
        context.maximum_version = max_tls
    return context


def tls_ma(certs: Certs) -> tuple[str, ...]:
    """The flags of a provider serving TLS that requires a client certificate from `certs.ca`."""
    server = ("--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key))
    return (*server, "--tls-client-ca", str(certs.ca))


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str  # https://127.0.0.1:PORT

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def output(self) -> str:
        return output(self.proc)


@contextmanager
def serving(*args: str, db: str, probe: ssl.SSLContext, workers: int = 1) -> Iterator[Served]:
    """`serve provider --no-auth ARGS` on a free port, once `/_health` answers over https to a
    client with the `probe` context; stopped at the end."""
    proc, base = start_provider(db, workers, flags=args, verify=probe)
    try:
        yield Served(proc, base.removesuffix("/fhir"))
    finally:
        stop(proc)


def says_ready(served: Served) -> bool:
    """The command's "ready" line (printed once a worker answers) has been written."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if f"ready: {served.url}/fhir" in served.output():
            return True
        time.sleep(0.1)
    return False


def test_tls_cert_and_key_serve_https_and_no_plain_http(certs: Certs, tmp_path: Path) -> None:
    trusting = client(certs)
    with serving(
        "--tls-cert",
        str(certs.server.cert),
        "--tls-key",
        str(certs.server.key),
        db=f"sqlite:///{tmp_path / 'p.sqlite3'}",
        probe=trusting,
    ) as served:
        with httpx.Client(verify=trusting, timeout=10) as https:
            health = https.get(f"{served.url}/_health")
            metadata = https.get(f"{served.url}/fhir/metadata")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert health.headers["strict-transport-security"] == HSTS
        assert metadata.status_code == 200, metadata.text
        assert metadata.json()["resourceType"] == "CapabilityStatement"
        # The base URL the answers name is the https one.
        assert metadata.json()["implementation"]["url"] == f"{served.url}/fhir"
        # A client that does not trust the CA (the system's bundle) refuses the server.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{served.url}/_health", timeout=10)
        # Plain HTTP to the TLS port: no answer at all (uvicorn drops the connection when
        # the handshake fails on a request line), not a 400, not a redirect.
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            httpx.get(f"http://127.0.0.1:{served.port}/_health", timeout=10)
        assert says_ready(served), served.output()


def test_tls_client_ca_requires_a_client_certificate_from_it(certs: Certs, tmp_path: Path) -> None:
    ssp = client(certs, certs.ssp)
    with serving(
        *tls_ma(certs),
        db=f"sqlite:///{tmp_path / 'p.sqlite3'}",
        probe=ssp,
    ) as served:
        answered = httpx.get(f"{served.url}/fhir/metadata", verify=ssp, timeout=10)
        assert answered.status_code == 200, answered.text
        assert answered.json()["resourceType"] == "CapabilityStatement"
        for cert in (None, certs.stranger):
            # TLS 1.2: the client's handshake itself fails (the server hangs up in it).
            tls12 = client(certs, cert, max_tls=ssl.TLSVersion.TLSv1_2)
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{served.url}/_health", verify=tls12, timeout=10)
            # TLS 1.3: the server checks the client's certificate after the client's side
            # of the handshake is done, so the refusal reaches the client on its first read.
            # Either way no request is answered.
            with pytest.raises(REFUSED):
                httpx.get(f"{served.url}/_health", verify=client(certs, cert), timeout=10)
        assert says_ready(served), served.output()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UEC_")}
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", "serve", "provider", "--no-auth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean,
    )


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (("--tls-cert", "{cert}"), "--tls-cert: --tls-cert and --tls-key go together"),
        (("--tls-key", "{key}"), "--tls-cert: --tls-cert and --tls-key go together"),
        (("--tls-client-ca", "{ca}"), "--tls-client-ca: --tls-client-ca needs --tls-cert"),
        (
            ("--behind-tls-proxy", ""),
            "--behind-tls-proxy: --behind-tls-proxy needs --public-base-url https://… (the URL "
            "consumers use)",
        ),
    ],
)
def test_half_a_tls_configuration_is_one_sentence(
    certs: Certs, tmp_path: Path, given: tuple[str, str], named: str
) -> None:
    flag, value = given
    files = {"cert": certs.server.cert, "key": certs.server.key, "ca": certs.ca}
    values = [value.format(**files)] if value else []
    done = _run(
        "--port", str(free_port()), "--db", f"sqlite:///{tmp_path / 'p.sqlite3'}", flag, *values
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    # A usage mistake: one line saying what is wrong, naming the option, and where help is.
    errors = [line for line in done.stderr.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, done.stderr
    option, sentence = named.split(": ", 1)
    assert option in errors[0] and sentence in errors[0], done.stderr
    assert not (tmp_path / "p.sqlite3").exists()  # refused before anything was done


def _workers(parent: int) -> list[int]:
    """uvicorn's worker processes under `parent` (multiprocessing's spawned children, less
    its resource tracker)."""
    children: list[int] = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        children += [int(pid) for pid in (task / "children").read_text().split()]
    workers = []
    for pid in children:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            workers.append(pid)
    return workers


def test_every_worker_serves_tls_ma(certs: Certs, pg_url: str) -> None:
    """Two workers: with either one stopped (SIGSTOP), fresh TLS-MA connections are all
    answered by the other, so each worker serves TLS and requires the client certificate."""
    ssp = client(certs, certs.ssp)
    with serving(
        *tls_ma(certs),
        db=pg_url,
        probe=ssp,
        workers=2,
    ) as served:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while len(workers) != 2 and time.monotonic() < deadline:
            workers = _workers(served.proc.pid)
            time.sleep(0.2)
        assert len(workers) == 2, (workers, served.output())
        assert says_ready(served), served.output()
        # The control: with both stopped nobody completes a handshake, so what answers
        # below is the one worker left running.
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(httpx.ConnectTimeout):
                httpx.get(f"{served.url}/_health", verify=ssp, timeout=1)
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        for stopped in workers:
            (serving_worker,) = set(workers) - {stopped}
            # uvicorn kills a worker that misses its health check for 5 s: stay well under.
            os.kill(stopped, signal.SIGSTOP)
            try:
                statuses = []
                for _ in range(5):  # each a new connection, so a new TLS handshake
                    with httpx.Client(verify=ssp, timeout=3) as fresh:
                        statuses.append(fresh.get(f"{served.url}/fhir/metadata").status_code)
                with pytest.raises(REFUSED):
                    httpx.get(f"{served.url}/_health", verify=client(certs), timeout=3)
            finally:
                os.kill(stopped, signal.SIGCONT)
            assert statuses == [200] * 5, (serving_worker, statuses)
        assert sorted(_workers(served.proc.pid)) == sorted(workers), served.output()


def test_behind_tls_proxy_sends_hsts_on_plain_http(certs: Certs, tmp_path: Path) -> None:
    """TLS ends at the proxy: the provider speaks plain HTTP to it and still sends HSTS
    (for the consumer, through the proxy). Without the flag a plain provider sends none.
    The answers' base URL is `--public-base-url` whatever the forwarded headers say."""
    public = "https://provider.example.nhs.uk/fhir"
    for flags, hsts in (((), None), (("--behind-tls-proxy",), HSTS)):
        db = f"sqlite:///{tmp_path / 'p.sqlite3'}"
        proc, base = start_provider(db, flags=("--public-base-url", public, *flags))
        try:
            forged = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"}
            metadata = httpx.get(f"{base}/metadata", headers=forged, timeout=10)
        finally:
            stop(proc)
        assert metadata.status_code == 200, metadata.text
        assert metadata.headers.get("strict-transport-security") == hsts, flags
        assert metadata.json()["implementation"]["url"] == public


@pytest.mark.skipif(
    shutil.which("haproxy") is None,
    reason="HAPROXY NOT INSTALLED (make system-deps installs it): TLS termination test skipped",
)
def test_haproxy_terminates_tls_ma_with_the_shipped_config(certs: Certs, tmp_path: Path) -> None:
    """DEPLOYMENT.md's bind line through `UEC_LB_BIND` into the shipped haproxy.cfg: the SSP's
    certificate gets an answer from the provider behind it; none, or a stranger's, does not."""
    pem = tmp_path / "provider.pem"  # HAProxy's crt: certificate and key in one file
    pem.write_bytes(certs.server.cert.read_bytes() + certs.server.key.read_bytes())
    db = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    public = ("--public-base-url", "https://provider.example.nhs.uk/fhir")
    provider, base = start_provider(db, flags=("--behind-tls-proxy", *public))
    port = free_port()
    backend = base.split("//")[1].removesuffix("/fhir")
    bind = f"127.0.0.1:{port} ssl crt {pem} ca-file {certs.ca} verify required"
    try:
        with haproxy(bind, backend):
            url = f"https://127.0.0.1:{port}"
            ssp = client(certs, certs.ssp)
            deadline = time.monotonic() + 30
            while (
                metadata := httpx.get(f"{url}/fhir/metadata", verify=ssp, timeout=10)
            ).status_code == 503:
                assert time.monotonic() < deadline, "HAProxy never saw the provider up"
                time.sleep(0.5)  # its first health check of the backend
            assert metadata.status_code == 200, metadata.text
            assert metadata.json()["resourceType"] == "CapabilityStatement"
            assert metadata.headers["strict-transport-security"] == HSTS
            assert httpx.get(f"{url}/metrics", verify=ssp, timeout=10).status_code == 403
            for cert in (None, certs.stranger):
                with pytest.raises(REFUSED):
                    httpx.get(f"{url}/_health", verify=client(certs, cert), timeout=10)
    finally:
        stop(provider)
