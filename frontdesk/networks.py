"""Addresses and origins as settings and forms name them: trusted-proxy networks (CIDR) and
normalised HTTP(S) origins (RFC 6454 serialisation: ``scheme://host[:port]``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the worker imports this module too, and must not load Litestar
    from litestar.datastructures import Headers


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


# The IPv6 prefix a client is counted by (FRONTDESK_IPV6_PREFIX): one customer network.
DEFAULT_IPV6_PREFIX = 64


def forwarded_for_lines(headers: Headers | Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every ``X-Forwarded-For`` line of a request, in the order received: from Litestar's
    ``Headers`` or from an ASGI scope's raw ``headers`` (name lower-case, latin-1, as ASGI gives
    them). A proxy may append its own line rather than extend the visitor's, so the lines are one
    list (RFC 9110 §5.3) and reading only the first would read the visitor's own.
    """
    if isinstance(headers, Mapping):  # Litestar's Headers, a multi-mapping; raw ASGI pairs are not
        return cast("Headers", headers).getall("x-forwarded-for", [])
    return [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]
) -> str:
    """The visitor's IP address: the peer, unless it is a trusted proxy; then the hops of all
    ``forwarded_for`` lines (joined in order, RFC 9110 §5.3) read from the right, skipping trusted
    proxies: the first untrusted hop is the client. Every hop read was appended by a trusted
    proxy, so a visitor's own entries (on the left) are never reached.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.9``, RFC 4291 §2.5.5.2) is given as IPv4; a
    hop may carry a port (``192.0.2.9:4711``, ``[2001:db8::1]:443``), which is dropped. A hop that
    is not an IP address (a misconfigured proxy), an empty one (``""``, ``a, , b``, a trailing
    comma) included, ends the walk at the proxy that wrote it, so the answer is always an address
    a server or a trusted proxy saw, never visitor text. No peer
    (no ASGI ``client``) is ``unknown``; a peer that is not an IP (a test client) is given as is.
    """
    if peer is None:
        return "unknown"
    address = _address(peer)
    if address is None:
        return peer
    if not trusted or not forwarded_for or not _trusted(address, trusted):
        return str(address)
    hops = [hop for line in forwarded_for for hop in line.split(",")]
    for text in reversed(hops):
        # An empty entry is no address either: skipping it would read on into the visitor's text.
        # Longer text is no address (and stays out of _address's cache).
        hop = _address(text) if len(text) <= _MAX_HOP else None
        if hop is None:
            break
        address = hop
        if not _trusted(hop, trusted):
            break
    return str(address)


def client_bucket(
    peer: str | None,
    forwarded_for_lines: Sequence[str],
    trusted: Sequence[IpNetwork],
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
) -> str:
    """The rate-limit bucket of a request: its :func:`client_address`, and for IPv6 the
    ``ipv6_prefix`` network holding it (``2001:db8:1:2::/64``). A /64 is one customer's network
    (RFC 6177; every address in it is the same visitor's to pick), so counting per address lets
    one visitor post from 2^64 buckets. IPv4 (and IPv4-mapped IPv6) is counted per address.

    ``peer`` is the ASGI ``client`` host, ``forwarded_for_lines`` every ``X-Forwarded-For`` line
    (:func:`forwarded_for_lines`), ``trusted`` :func:`parse_networks` of
    ``FRONTDESK_TRUSTED_PROXIES``, ``ipv6_prefix`` ``FRONTDESK_IPV6_PREFIX``. Every limit a
    visitor meets counts this (submissions, phone checks, the staff throttle); the bucket is also
    what a log line may name (an address a server or proxy saw, never header text).
    """
    return address_bucket(client_address(peer, forwarded_for_lines, trusted), ipv6_prefix)


@functools.lru_cache(maxsize=4096)  # pure; a burst comes from the same few addresses
def address_bucket(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """The bucket of one :func:`client_address`: an IPv6 address's ``ipv6_prefix`` network,
    anything else unchanged.
    """
    if ":" not in address:
        return address
    try:
        network = ipaddress.IPv6Network((address, ipv6_prefix), strict=False)
    except ValueError:
        return address
    return str(network)


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The longest hop that can be an address: "[" + IPv6 with an IPv4 tail and a zone id + "]:65535".
_MAX_HOP = 100


@functools.lru_cache(maxsize=4096)  # pure; the same peers and proxies on every request
def _address(text: str) -> IpAddress | None:
    """One hop or peer as an address (IPv4-mapped IPv6 as IPv4, a port dropped), else ``None``."""
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IpAddress, trusted: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in trusted)


def non_global_kind(address: IpAddress) -> str | None:
    """Why ``address`` is not a public destination (``loopback``, ``link-local``, ``6to4`` ...),
    or ``None``: IPv4-mapped IPv6 is judged as the IPv4 address, 6to4 and Teredo (IPv6 tunnelled to
    IPv4 through a relay) are refused whatever they carry (worker/destinations.py says why).
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            return "6to4"
        elif address.teredo is not None:
            return "Teredo"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def allowed_in(address: IpAddress, networks: Sequence[IpNetwork]) -> bool:
    """Whether ``address`` (or the IPv4 address an IPv4-mapped one means) lies in ``networks``."""
    candidates: list[IpAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(a in n for a in candidates for n in networks if a.version == n.version)


def url_refusal(url: str, *, allow_http: bool, allow_networks: Sequence[str]) -> str | None:
    """Why ``url`` may not be a hook by what it says (scheme, a literal address), or ``None``.

    The check without DNS, for the build hooks at load and in ``frontdesk content check``; the worker
    checks again on every attempt with the resolved addresses (worker/destinations.py). The text
    never quotes the URL's path or query (a build hook's path is its secret).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises ValueError
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http"):
        return "only https URLs"
    if parts.scheme == "http" and not allow_http:
        return "an http:// URL: only https unless FRONTDESK_WEBHOOK_ALLOW_HTTP=on"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the URL carries a user name or password"
    host = host.rstrip(".")  # "localhost." is localhost
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: judged by its addresses at delivery
    kind = non_global_kind(address)
    if kind is not None and not allowed_in(address, parse_networks(tuple(allow_networks))):
        return (
            f"host {parts.hostname} is a {kind} address; ops may allow its range with "
            "FRONTDESK_WEBHOOK_ALLOW_NETWORKS"
        )
    return None
