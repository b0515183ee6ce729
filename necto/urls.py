"""URLs with IPv6 literal hosts: always in brackets (`http://[::1]:8080/`), as RFC 3986 wants.

mitmproxy builds `http://::1:8080/` for an IPv6 host, which no URL parser reads back; HAR
files from such tools carry the same. Capture brackets the host it knows; import repairs what
it can tell apart (and says so)."""

from __future__ import annotations

import ipaddress


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def bracket_host(url: str, host: str) -> str:
    """`url` as built by a tool that put the IPv6 literal `host` in it without brackets, fixed.

    Absolute URLs (`scheme://host...`) and authority form (`host:port`, CONNECT) are handled;
    anything else is returned unchanged."""
    if ":" not in host or host.startswith("["):
        return url
    head = f"://{host}"
    i = url.find(head)
    if i >= 0:
        after = url[i + len(head) :]
        if not after or after[0] in ":/?#":
            return f"{url[:i]}://[{host}]{after}"
        return url
    if url.startswith(host) and (len(url) == len(host) or url[len(host)] == ":"):
        return f"[{host}]{url[len(host) :]}"
    return url


def unbracketed_ipv6(url: str) -> str | None:
    """The URL with its unbracketed IPv6 literal host put in brackets, or None when its host is
    fine (or not something this can tell apart). A trailing `:digits` group is read as the port
    when what is before it is an address: tools that forget brackets write `host:port`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    end = len(rest)
    for ch in "/?#":
        j = rest.find(ch)
        if j >= 0:
            end = min(end, j)
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("[") or hostport.count(":") < 2:
        return None
    host, _, port = hostport.rpartition(":")
    if port.isdigit() and int(port) <= 65535 and _ipv6(host):
        return f"{scheme}://{userinfo}{at}[{host}]:{port}{tail}"
    if _ipv6(hostport):
        return f"{scheme}://{userinfo}{at}[{hostport}]{tail}"
    return None
