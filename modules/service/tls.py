"""HTTPS for a shared instance: the certificate to serve, given (`--tls-keyfile`/`--tls-certfile`, A1111's flag
names) or made once for this machine (`--tls-self-signed`) and kept, so browsers that trusted it keep doing so.

Without TLS, passwords cross the LAN in the clear. A self-signed certificate is not vouched for by anyone: the
log prints its SHA-256 fingerprint so people can check, the first time their browser asks, that it is this
server's (and not a machine in between).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

CERT_NAME, KEY_NAME = "webui-cert.pem", "webui-key.pem"
VALID_DAYS = 3650  # a LAN tool: renewing every year would make everyone trust a new certificate each time
RENEW_BEFORE = dt.timedelta(days=30)


class TlsError(ValueError):
    """Certificate files that cannot be served; the message says which and what to do."""


@dataclass(frozen=True)
class Certificate:
    certfile: Path
    keyfile: Path
    fingerprint: str  # SHA-256, "AB:CD:...", as browsers show it
    names: tuple[str, ...]  # the DNS names and addresses it is valid for (empty: not read, a given file)
    self_signed: bool


def machine_names() -> list[str]:
    """The names and addresses people may type to reach this machine: localhost, the host name, its LAN
    addresses (found without sending anything: connecting a UDP socket only picks a route)."""
    names = ["localhost", "127.0.0.1", "::1"]
    host = socket.gethostname()
    names.append(host)
    try:
        names.extend(socket.gethostbyname_ex(host)[2])
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 1))
            names.append(probe.getsockname()[0])
    except OSError:
        pass
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return seen


def fingerprint_of(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _names_of(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.get_values_for_type(x509.DNSName)) + tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))


def given(certfile: Path, keyfile: Path) -> Certificate:
    """Files the admin gave: checked now, so a wrong path or a key of another certificate fails at start with a
    clear message instead of at the first browser's handshake."""
    for what, path in (("--tls-certfile", certfile), ("--tls-keyfile", keyfile)):
        if not Path(path).is_file():
            raise TlsError(f"{what} {path} is not a file: give the PEM file of your certificate and its key.")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(certfile), str(keyfile))
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"{certfile} and {keyfile} cannot be served together ({exc}): check that the key belongs "
                       f"to the certificate and that both are PEM files.") from None
    cert = x509.load_pem_x509_certificate(Path(certfile).read_bytes())
    return Certificate(Path(certfile), Path(keyfile), fingerprint_of(cert), _names_of(cert), self_signed=False)


def self_signed(folder: Path, names: list[str] | None = None, *, now: dt.datetime | None = None) -> Certificate:
    """This machine's certificate in `folder`: the one made before when it still covers `names` and is not about
    to expire, else a new one (the old files are kept beside it, never overwritten)."""
    folder = Path(folder)
    names = names or machine_names()
    now = now or dt.datetime.now(dt.timezone.utc)
    certfile, keyfile = folder / CERT_NAME, folder / KEY_NAME
    if certfile.is_file() and keyfile.is_file():
        try:
            cert = x509.load_pem_x509_certificate(certfile.read_bytes())
            covered = set(_names_of(cert))
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(certfile), str(keyfile))  # a pair
            if set(names) <= covered and cert.not_valid_after_utc - RENEW_BEFORE > now:
                return Certificate(certfile, keyfile, fingerprint_of(cert), tuple(sorted(covered)), True)
            log.info("tls: the kept certificate does not cover %s or expires soon: making a new one",
                     ", ".join(sorted(set(names) - covered)) or "every name")
        except (ValueError, ssl.SSLError) as exc:
            log.warning("tls: %s is unreadable or not the key's (%s): making a new certificate", certfile, exc)
        stamp = now.strftime("%Y%m%d-%H%M%S")
        for path in (certfile, keyfile):
            path.rename(path.with_name(f"{path.name}.{stamp}.old"))
    return _make(folder, names, now)


def _make(folder: Path, names: list[str], now: dt.datetime) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "localhost"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stable Diffusion WebUI (self-signed)")])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    keyfile, certfile = folder / KEY_NAME, folder / CERT_NAME
    _write_private(keyfile, key_pem)
    _write_private(certfile, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return Certificate(certfile, keyfile, fingerprint_of(cert), tuple(_names_of(cert)), True)


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically, readable only by this user for the key."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tls-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def describe(cert: Certificate, port: int) -> str:
    """The log line that tells people which address to open and which certificate to trust."""
    addresses = [n for n in cert.names if n not in ("localhost", "127.0.0.1", "::1")] or list(cert.names)
    where = ", ".join(f"https://{'[' + a + ']' if ':' in a else a}:{port}" for a in addresses[:4]) or f"port {port}"
    if cert.self_signed:
        return (f"serving HTTPS at {where} with a self-signed certificate ({cert.certfile}). Browsers will warn "
                f"once: trust it only if they show this SHA-256 fingerprint: {cert.fingerprint}")
    return f"serving HTTPS at {where} with {cert.certfile} (SHA-256 {cert.fingerprint})"
