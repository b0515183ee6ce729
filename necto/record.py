"""What `necto record -- CMD` hands its command: proxy variables, a CA bundle, and Chromium's facts.

Pure functions (no Necto start-up, no subprocess), so the environment a recorded command sees
is decided in one place and tested directly. The CA bundle is the system's roots plus Necto's,
so HTTPS the command makes to hosts that are not intercepted (pip mirrors, git remotes) keeps
verifying, and trust the user already set up (an existing SSL_CERT_FILE) is kept.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import ssl
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from necto.config import is_loopback_host

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
# Variables that name a CA file, read by OpenSSL/Python, requests, curl, Node, pip and git.
CA_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "GIT_SSL_CAINFO")
MAX_CA_FILE = 16 << 20  # a CA file larger than this is not a CA file


def _is_loopback_entry(entry: str) -> bool:
    """A NO_PROXY entry that would keep loopback traffic away from the proxy."""
    e = entry.strip().lower()
    if e in ("*", "<local>"):
        return True
    host = e.lstrip("*").lstrip(".")
    if "/" in host:
        try:
            net = ipaddress.ip_network(host.strip("[]"), strict=False)
        except ValueError:
            return False
        return net.overlaps(ipaddress.ip_network("127.0.0.0/8" if net.version == 4 else "::1/128"))
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]  # host:port
    return host == "localhost" or is_loopback_host(host) or host in ("0.0.0.0", "::")


def clean_no_proxy(value: str) -> str:
    """NO_PROXY without loopback entries (and `*`), so local servers are recorded too."""
    return ",".join(e.strip() for e in value.split(",") if e.strip() and not _is_loopback_entry(e))


def system_ca_files() -> list[Path]:
    """The system's trusted roots: OpenSSL's default file, else its directory, else certifi."""
    paths = ssl.get_default_verify_paths()
    for name in (paths.cafile, paths.openssl_cafile):
        if name and Path(name).is_file():
            return [Path(name)]
    capath = next((p for p in (paths.capath, paths.openssl_capath) if p and Path(p).is_dir()), None)
    if capath:
        found = sorted(p for p in Path(capath).iterdir() if p.suffix in (".pem", ".crt") and p.is_file())
        if found:
            return found
    try:
        import certifi
    except ImportError:
        return []
    return [Path(certifi.where())]


def _pem_blocks(path: Path) -> list[bytes]:
    """The PEM certificate blocks of a file (anything else in it is left out)."""
    try:
        if path.stat().st_size > MAX_CA_FILE:
            return []
        data = path.read_bytes()
    except OSError:
        return []
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    blocks, pos = [], 0
    while (start := data.find(begin, pos)) != -1:
        stop = data.find(end, start)
        if stop == -1:
            break
        blocks.append(data[start : stop + len(end)])
        pos = stop + len(end)
    return blocks


def write_ca_bundle(target: Path, necto_ca: Path, environ: Mapping[str, str]) -> int:
    """Write the combined bundle: CA files the user already pointed at, the system roots, and
    Necto's CA. Returns how many certificates it holds."""
    sources = [Path(environ[v]) for v in CA_VARS if environ.get(v)] + system_ca_files() + [necto_ca]
    seen: set[bytes] = set()
    out: list[bytes] = []
    done: set[Path] = set()
    for src in sources:
        real = src.resolve()
        if real in done:
            continue
        done.add(real)
        for block in _pem_blocks(src):
            key = b"".join(block.split())
            if key not in seen:
                seen.add(key)
                out.append(block)
    target.write_bytes(b"\n".join(out) + b"\n")
    return len(out)


def spki_hash(cert_pem: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list takes."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def record_env(
    environ: Mapping[str, str],
    proxy_url: str,
    bundle: Path,
    necto_ca: Path,
    session_id: str,
    api_url: str,
) -> dict[str, str]:
    """The command's environment: every proxy variable at Necto, loopback not exempt, the
    combined bundle in every CA variable, and NECTO_* facts for scripts (Chromium flags)."""
    env = dict(environ)
    for name in PROXY_VARS:
        env[name] = proxy_url
    for name in NO_PROXY_VARS:
        cleaned = clean_no_proxy(environ.get(name, ""))
        if cleaned:
            env[name] = cleaned
        else:
            env.pop(name, None)
    for name in CA_VARS:
        env[name] = str(bundle)
    env["NODE_USE_ENV_PROXY"] = "1"  # Node's own fetch honours the proxy variables (Node >= 22.21 / 24.5)
    env["NECTO_PROXY"] = proxy_url
    env["NECTO_CA_CERT"] = str(necto_ca)
    env["NECTO_CA_SPKI"] = spki_hash(necto_ca)
    env["NECTO_SESSION_ID"] = session_id
    env["NECTO_API"] = api_url
    return env


def exit_status(returncode: int) -> int:
    """A child's exit as a shell reports it: its code, or 128 + the signal that ended it."""
    return 128 - returncode if returncode < 0 else returncode


__all__ = [
    "CA_VARS",
    "NO_PROXY_VARS",
    "PROXY_VARS",
    "clean_no_proxy",
    "exit_status",
    "record_env",
    "spki_hash",
    "system_ca_files",
    "write_ca_bundle",
]
