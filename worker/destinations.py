"""Where a webhook may go: the site directory names the URL, ops decide which networks it may reach.

A webhook carries a whole submission (health data) to a URL an editor wrote, and editors are not
trusted with the server's network (docs/security.md). So, on every attempt:

- the scheme is ``https`` unless ops set ``FRONTDESK_WEBHOOK_ALLOW_HTTP=on``;
- the host is resolved once, and every address it resolves to must be global: loopback, private
  (RFC 1918, RFC 4193), link-local (``169.254.169.254``, the cloud metadata service), unspecified,
  multicast, reserved and other non-global addresses (Python's ``ipaddress``, after the IANA
  special-purpose registries; IPv4-mapped IPv6 judged as the IPv4 address) are refused unless they
  lie in ``FRONTDESK_WEBHOOK_ALLOW_NETWORKS``. Numeric spellings (``0x7f000001``, ``127.1``) are
  resolved like names, so they are judged by the address they mean;
- IPv6 that tunnels to IPv4 through a relay is refused whatever IPv4 address it carries, unless
  ops allow its IPv6 range: 6to4 (``2002::/16``, RFC 3056; ``ipaddress`` calls it global, so
  ``[2002:7f00:1::1]`` for 127.0.0.1 and ``[2002:a9fe:a9fe::1]`` for the metadata service passed)
  and Teredo (``2001::/32``, RFC 4380). Both are deprecated (RFC 7526) and no webhook receiver
  needs them; judging only the embedded address would trust whatever relay carries the packet.
  NAT64 (``64:ff9b::/96``) and IPv4-compatible (``::a.b.c.d``) addresses are refused as reserved;
- the POST connects to the address that was checked (no second lookup a DNS rebinding could
  answer differently), with the URL's host in ``Host`` and as the TLS server name, so the
  certificate is still verified for the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import msgspec

from frontdesk.networks import allowed_in as _allowed
from frontdesk.networks import non_global_kind as _kind
from frontdesk.networks import parse_networks

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The destination is not allowed; the message names the setting that would allow it."""


class Unresolved(Exception):
    """The host did not resolve (transient: DNS may answer later)."""


class Destination(msgspec.Struct, frozen=True):
    """A checked destination: ``scheme``, ``host`` as written (for ``Host`` and TLS), ``port``,
    and ``addresses``, every checked IP in the resolver's order, to connect to one after another
    (as a client does when, say, IPv6 has no route here).
    """

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check(url: str, *, allow_http: bool, allow_networks: tuple[str, ...]) -> Destination:
    """Resolve ``url``'s host once and check every address (module docstring).

    Raises :class:`Refused` (permanent) or :class:`Unresolved` (transient).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        # "Invalid IPv6 URL": permanent, and the text repeats none of it (a chat URL is a secret).
        raise Refused("webhook URL is not a URL (an unbalanced [ or ] in its host)") from None
    if parts.scheme not in ("https", "http"):
        raise Refused(f"webhook URL scheme {parts.scheme!r}: only https")
    if parts.scheme == "http" and not allow_http:
        raise Refused("webhook URL is http://: only https unless FRONTDESK_WEBHOOK_ALLOW_HTTP=on")
    if not host:
        raise Refused("webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        # Python's text quotes the port as written, and a chat URL is a secret.
        raise Refused("webhook URL has a port that is not a number from 0 to 65535") from None
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolved(f"webhook host {host!r} did not resolve: {exc}") from None
    networks = parse_networks(allow_networks)
    addresses: list[IpAddress] = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    for address in addresses:
        kind = _kind(address)
        if kind is not None and not _allowed(address, networks):
            raise Refused(
                f"webhook host {host!r} resolves to {address}, a {kind} address; ops may allow "
                "its range with FRONTDESK_WEBHOOK_ALLOW_NETWORKS"
            )
    if not addresses:
        raise Unresolved(f"webhook host {host!r} has no address")
    return Destination(parts.scheme, host, port, tuple(str(a) for a in addresses))
