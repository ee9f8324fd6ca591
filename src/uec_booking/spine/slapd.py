"""Run the SDS LDIF on OpenLDAP slapd (the production/interop path), from a temporary
directory, on a loopback port, over ldaps (or StartTLS) when given an `SdsTLS`. Needs
Debian's `slapd` package (`make test` installs it). Its output goes to a log file in its
directory: a pipe nobody reads would block it once full."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from uec_booking.spine.sds import SdsHandle, SdsTLS

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SYSTEM_SCHEMA = Path("/etc/ldap/schema")
MODULE_PATH = Path("/usr/lib/ldap")


def slapd_available() -> str | None:
    """None when slapd can run here, else why not."""
    for binary in (SLAPD, SLAPADD):
        if not Path(binary).exists():
            return f"{binary} is not installed (apt-get install slapd ldap-utils)"
    if not (SYSTEM_SCHEMA / "cosine.schema").exists():
        return f"{SYSTEM_SCHEMA}/cosine.schema is missing"
    return None


def nhs_schema_path() -> Path:
    return Path(str(resources.files("uec_booking.spine") / "schema" / "nhs.schema"))


def _tls_conf(tls: SdsTLS | None) -> str:
    if tls is None:
        return ""
    conf = f"TLSCertificateFile {tls.cert}\nTLSCertificateKeyFile {tls.key}\n"
    if tls.client_ca:
        # A client certificate from the Spine CA, as live SDS wants (TLS-MA).
        conf += f"TLSCACertificateFile {tls.client_ca}\nTLSVerifyClient demand\n"
    return conf


def slapd_conf(workdir: Path, tls: SdsTLS | None = None) -> str:
    module = (
        f"modulepath {MODULE_PATH}\nmoduleload back_mdb\n"
        if (MODULE_PATH / "back_mdb.so").exists()
        else ""
    )
    return f"""include {SYSTEM_SCHEMA}/core.schema
include {SYSTEM_SCHEMA}/cosine.schema
include {nhs_schema_path()}
{_tls_conf(tls)}pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
{module}sizelimit 500
database mdb
maxsize 67108864
suffix "o=nhs"
rootdn "cn=admin,o=nhs"
directory {workdir}/data
readonly on
access to * by * read
"""


def start_slapd(
    ldif_text: str, *, host: str = "127.0.0.1", port: int = 8389, tls: SdsTLS | None = None
) -> SdsHandle:
    """Load `ldif_text` into a fresh slapd database and serve it read-only on host:port."""
    reason = slapd_available()
    if reason:
        raise RuntimeError(reason)
    workdir = tempfile.TemporaryDirectory(prefix="uec-slapd-")
    root = Path(workdir.name)
    (root / "data").mkdir()
    conf = root / "slapd.conf"
    conf.write_text(slapd_conf(root, tls), encoding="utf-8")
    (root / "sds.ldif").write_text(ldif_text, encoding="utf-8")
    loaded = subprocess.run(
        [SLAPADD, "-f", str(conf), "-l", str(root / "sds.ldif")], capture_output=True, text=True
    )
    if loaded.returncode != 0:
        workdir.cleanup()
        raise RuntimeError(f"slapadd failed: {loaded.stderr.strip()}")
    scheme = tls.scheme() if tls else "ldap"
    log_path = root / "slapd.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", f"{scheme}://{host}:{port}/", "-d", "0"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    handle = SdsHandle(f"{scheme}://{host}:{port}", process, workdir, log_path)
    return handle.started(host, port, "slapd")


def ldapsearch_available() -> bool:
    return shutil.which("ldapsearch") is not None
