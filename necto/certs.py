"""Necto's certificate authority: created once with `cryptography`, handed to mitmproxy.

mitmproxy reads `<confdir>/mitmproxy-ca.pem` (key + certificate) and would create its own CA
named "mitmproxy" if the file were missing; writing ours first makes every intercepted site's
certificate chain up to "Necto CA". Private key files are 0600 from the moment they exist.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "Necto CA"
CA_ORGANIZATION = "Necto"
MITM_BASENAME = "mitmproxy"  # the file names mitmproxy's TlsConfig looks for


@dataclass(frozen=True)
class CaFiles:
    directory: Path

    @property
    def key_and_cert(self) -> Path:
        """Key + certificate, as mitmproxy expects; private."""
        return self.directory / f"{MITM_BASENAME}-ca.pem"

    @property
    def cert_pem(self) -> Path:
        return self.directory / "necto-ca-cert.pem"

    @property
    def cert_crt(self) -> Path:
        """The same certificate in DER form, for OSes that want a .crt/.cer file."""
        return self.directory / "necto-ca-cert.crt"

    @property
    def key(self) -> Path:
        return self.directory / "necto-ca-key.pem"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def ensure_ca(directory: Path) -> CaFiles:
    """Create Necto's CA in `directory` unless it is already there; fix key permissions."""
    files = CaFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    if not files.key_and_cert.exists():
        key, cert = _generate()
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        _write_private(files.key, key_pem)
        _write_private(files.key_and_cert, key_pem + cert_pem)
        files.cert_pem.write_bytes(cert_pem)
        files.cert_crt.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    for private in (files.key, files.key_and_cert):
        if private.exists():
            os.chmod(private, 0o600)
    return files


def _generate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def ca_info(files: CaFiles) -> dict[str, object]:
    cert = x509.load_pem_x509_certificate(files.cert_pem.read_bytes())
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "fingerprint": ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)),
        "fingerprintAlgorithm": "SHA-256",
        "serialNumber": format(cert.serial_number, "X"),
        "validFrom": cert.not_valid_before_utc.isoformat(),
        "validTo": cert.not_valid_after_utc.isoformat(),
        "path": str(files.cert_pem),
        "crtPath": str(files.cert_crt),
    }


def install_steps(files: CaFiles, proxy: str) -> dict[str, object]:
    """Per-OS steps to trust the CA, with the real paths filled in."""
    pem, crt = files.cert_pem, files.cert_crt
    return {
        "certificatePath": str(pem),
        "downloadUrl": "/api/certificates/download",
        "platforms": {
            "curl": [f"curl -x http://{proxy} --cacert {pem} https://example.com/"],
            "linux": [
                f"sudo cp {pem} /usr/local/share/ca-certificates/necto-ca.crt",
                "sudo update-ca-certificates",
                "Firefox and Chromium keep their own store: Settings > Certificates > Import.",
            ],
            "macos": [
                f"sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {pem}",
            ],
            "windows": [f'certutil -addstore -user Root "{crt}"'],
            "firefox": [
                "Settings > Privacy & Security > Certificates > View Certificates > Authorities > "
                f"Import {pem}, tick 'Trust this CA to identify websites'.",
                "To capture localhost and 127.0.0.1 too: about:config > "
                "network.proxy.allow_hijacking_localhost = true (otherwise Firefox sends them around the proxy).",
            ],
            "chromium": [
                f'chromium --proxy-server=http://{proxy} --proxy-bypass-list="<-loopback>"',
                'Without --proxy-bypass-list="<-loopback>" Chromium (and Chrome, Edge) sends localhost '
                "and 127.0.0.1 around the proxy, so local sites are not captured.",
                "Chromium on Linux trusts CAs from its NSS store: "
                f"certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'Necto CA' -i {pem}",
            ],
            "android": [
                "Download /api/certificates/download on the device, then Settings > Security > "
                "Encryption & credentials > Install a certificate > CA certificate.",
            ],
            "ios": [
                "Open /api/certificates/download in Safari, install the profile, then Settings > "
                "General > About > Certificate Trust Settings > enable full trust for Necto CA.",
            ],
            "python": [f"export REQUESTS_CA_BUNDLE={pem} SSL_CERT_FILE={pem}"],
            "node": [f"export NODE_EXTRA_CA_CERTS={pem}"],
        },
    }
