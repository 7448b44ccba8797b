"""A throwaway certificate authority and a broker certificate for 127.0.0.1 and localhost,
made with Debian's openssl, for a broker on loopback with a TLS listener (``KafkaBroker``
with ``secured=True``). Nothing here is for a real cluster: Strimzi makes its own CA.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import LinetraceError

# Long enough for any test run or trial; a new directory gets new ones.
DAYS = 30
CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]  # faster to make than RSA
SERVER_EXTENSIONS = (
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth,clientAuth\n"
)


@dataclass(frozen=True)
class BrokerTls:
    ca: Path  # the CA certificate clients trust (LINETRACE_KAFKA_SSL_CAFILE)
    keystore: Path  # the broker's PKCS#8 key and certificate chain, PEM (ssl.keystore.type=PEM)


def certificate_authority(directory: Path, name: str = "linetrace test CA") -> tuple[Path, Path]:
    """A self-signed CA in ``directory``: (certificate, key); kept if it is there."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.crt", directory / "ca.key"
    if not cert.exists():
        _openssl(
            "req", "-x509", *CURVE, "-nodes", "-keyout", key, "-out", cert, "-days", str(DAYS),
            "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    return cert, key


def broker_tls(directory: Path) -> BrokerTls:
    """The CA and the broker's keystore in ``directory``, made on first use and kept after."""
    ca, ca_key = certificate_authority(directory)
    keystore = directory / "broker.pem"
    if not keystore.exists():
        key, request, cert = directory / "broker.key", directory / "broker.csr", directory / "broker.crt"
        extensions = directory / "broker.ext"
        extensions.write_text(SERVER_EXTENSIONS)
        _openssl("req", *CURVE, "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=localhost")
        _openssl(
            "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", str(DAYS), "-extfile", extensions,
        )  # fmt: skip
        keystore.write_text(key.read_text() + cert.read_text() + ca.read_text())
        keystore.chmod(0o600)
    return BrokerTls(ca, keystore)


def _openssl(*args: str | Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise LinetraceError("no openssl to make the broker's certificates: apt-get install openssl")
    done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise LinetraceError(f"openssl {args[0]} failed: {done.stderr.strip()}")
