"""What address a host string really denotes, and whether it is this machine.

One normalisation for every check Necto makes on an address (the proxy's refusal to reach its
own API, loopback checks, DNS mapping targets): an IPv4 address hides behind many spellings
that the OS or a client still connects to, and `ipaddress(...).is_loopback` is False for most
of them (`::ffff:127.0.0.1`, `2130706433`, `0177.1`, `127.1`, `[::ffff:7f00:1]`, `0.0.0.0`).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT "IPv4-translated"
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host on this network" (RFC 1122)
LOCAL_REFRESH_SECONDS = 30.0


def clean_host(host: str) -> str:
    """Lower case, no brackets, no IPv6 zone, no trailing dots: `[FE80::1%eth0]` -> `fe80::1`,
    `Example.COM.` -> `example.com`."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        h = h.split("%", 1)[0]
    return h.rstrip(".")


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 as inet_aton(3) and browsers read it: 1-4 parts, each decimal, octal (leading 0)
    or hex (0x); the last part fills the remaining bytes (`127.1`, `2130706433`, `0x7f.0.0.1`)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part[:2] in ("0x", "0X"):
                value = int(part[2:], 16) if part[2:] else 0
            elif len(part) > 1 and part[0] == "0":
                value = int(part[1:], 8)
            else:
                value = int(part, 10) if part.isdigit() else -1
        except ValueError:
            return None
        if value < 0:
            return None
        values.append(value)
    *head, last = values
    if any(v > 255 for v in head) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def unwrap(addr: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, 6to4, NAT64),
    else the address itself."""
    if isinstance(addr, ipaddress.IPv4Address):
        return addr
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64 or addr in _TRANSLATED:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    packed = int(addr)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(packed)
    return addr


def parse_ip(host: str) -> IPAddress | None:
    """The address `host` denotes, in canonical form (IPv4 when it carries one); None for a
    name that needs DNS."""
    h = clean_host(host)
    if not h:
        return None
    try:
        return unwrap(ipaddress.ip_address(h))
    except ValueError:
        pass
    if h[0].isdigit() and all(c in "0123456789abcdefx." for c in h):
        return _inet_aton(h)
    return None


def normalize_host(host: str) -> str:
    """A host string in its one canonical spelling: the IP it denotes, else the cleaned name."""
    ip = parse_ip(host)
    return str(ip) if ip is not None else clean_host(host)


def is_loopback(host: str) -> bool:
    """`localhost`, `*.localhost` or any spelling of a loopback address."""
    h = clean_host(host)
    if h == "localhost" or h.endswith(".localhost"):
        return True
    ip = parse_ip(h)
    return ip is not None and ip.is_loopback


def _interface_addresses() -> set[IPAddress]:
    found: set[IPAddress] = set()
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):
                    ip = parse_ip(a.address)
                    if ip is not None:
                        found.add(ip)
    except Exception:  # psutil missing or the OS refused: fall back on what the name says
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            ip = parse_ip(str(info[4][0]))
            if ip is not None:
                found.add(ip)
    except OSError:
        pass
    return found


class LocalAddresses:
    """Every address of this machine's interfaces, re-read at most every 30 s (DHCP, VPNs)."""

    def __init__(self, refresh: float = LOCAL_REFRESH_SECONDS) -> None:
        self._refresh = refresh
        self._at = float("-inf")
        self._addrs: frozenset[IPAddress] = frozenset()
        self._lock = threading.Lock()

    def get(self) -> frozenset[IPAddress]:
        now = time.monotonic()
        if now - self._at > self._refresh:
            with self._lock:
                if now - self._at > self._refresh:
                    self._addrs = frozenset(_interface_addresses())
                    self._at = now
        return self._addrs


LOCAL = LocalAddresses()


def is_this_host(ip: IPAddress, local: frozenset[IPAddress] | None = None) -> bool:
    """Does a connection to `ip` (already normalised) reach this machine?"""
    ip = unwrap(ip)
    if ip.is_loopback or ip.is_unspecified:
        return True
    if isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK:
        return True
    return ip in (LOCAL.get() if local is None else local)
