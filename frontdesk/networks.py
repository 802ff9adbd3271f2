"""Addresses and origins as settings and forms name them: trusted-proxy networks (CIDR) and
normalised HTTP(S) origins (RFC 6454 serialisation: ``scheme://host[:port]``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=4096)  # pure; the same few origins arrive on every request
def normalise_origin(text: str | None) -> str | None:
    """``scheme://host[:port]`` of an origin or URL, lower-cased, default port and path dropped;
    ``None`` for ``null``, empty or non-HTTP(S) values. ``http://localhost:8000/`` → ``http://localhost:8000``.
    """
    if not text:
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def parse_networks(cidrs: Sequence[str]) -> list[IpNetwork]:
    """``FRONTDESK_TRUSTED_PROXIES`` as networks (settings already refused bad CIDRs); an
    IPv4-mapped IPv6 network (``::ffff:10.0.0.0/104``) as the IPv4 one, as addresses are compared.
    """
    networks: list[IpNetwork] = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        mapped = network.network_address.ipv4_mapped if network.version == 6 else None
        if mapped is not None and network.prefixlen >= _MAPPED_PREFIX:
            network = ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED_PREFIX))
        networks.append(network)
    return networks


_MAPPED_PREFIX = 96  # ::ffff:0:0/96 holds the IPv4-mapped addresses (RFC 4291 §2.5.5.2)
