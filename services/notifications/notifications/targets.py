"""Where a webhook may point: public addresses only, unless the deployment says otherwise.

A webhook is a URL an administrator types and the service then POSTs to from
inside the company's network, so without rules it is a way to reach what
only that network can: the metadata endpoint of the cloud it runs on, the
database, an admin page on localhost. The rules:

- ``http`` or ``https``, no user name or password in the URL (the signature
  authenticates each delivery; credentials in a URL end up in every log and
  listing that shows it);
- a host that is a DNS name, a dotted-quad IPv4 address or a bracketed IPv6
  address: the other ways of writing a number (``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``, ``127.1``) are refused, since resolvers read them as
  addresses that no reader of the URL would recognise;
- every address the host resolves to is public: not loopback, private,
  link-local, shared (carrier-grade NAT), multicast, reserved or unspecified,
  IPv4 inside IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64) judged as the IPv4
  address it carries — unless ``ZHIDU_WEBHOOK_ALLOWED_NETWORKS`` lists a
  network holding it;
- a cloud metadata address never, whatever is listed.

They are applied when a webhook is registered and again before every attempt,
after resolving the name afresh; the attempt then connects to the address
that was checked, so a name re-pointed in between (DNS rebinding) cannot
swap it for another.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

SETTING = "ZHIDU_WEBHOOK_ALLOWED_NETWORKS"

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services, which hand out the machine's cloud credentials:
# AWS, Azure, GCP, Huawei, Baidu and OpenStack (169.254.169.254), AWS ECS
# tasks, Tencent Cloud, Alibaba Cloud, Oracle Cloud, and AWS over IPv6.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.0.23", "100.100.100.200", "192.0.0.192",
    "fd00:ec2::254"))

NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A last label that is a number: a TLD never is, so the host is an address in some form.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class TargetRefused(ValueError):
    """The URL breaks a rule, which the message names; the field is always ``url``."""


class Unresolved(OSError):
    """The name did not resolve now: a registration is refused, an attempt retried."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as the Host header and TLS certificate name it (IDNA, no brackets)
    port: int
    path: str  # path and query, as requested
    literal: IP | None  # the host, when it is an address

    @property
    def key(self) -> tuple[str, str, int]:
        """What the per-target limit counts attempts against."""
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_networks(text) -> tuple[Network, ...]:
    """``ZHIDU_WEBHOOK_ALLOWED_NETWORKS``: comma-separated CIDRs; a bad one stops start-up."""
    parts = text if isinstance(text, (list, tuple)) else str(text or "").split(",")
    networks = []
    for part in (str(p).strip() for p in parts):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            raise ValueError(f"{SETTING}: {part!r} is not a network in CIDR form "
                             f"(such as 10.20.0.0/16): {exc}") from None
    return tuple(networks)


def system_resolve(host: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolved(f"{host} does not resolve ({exc})") from None
    return [info[4][0] for info in found]


class TargetPolicy:
    def __init__(self, allowed: Iterable[Network] = (),
                 resolve: Callable[[str, int], list[str]] = system_resolve):
        self.allowed = tuple(allowed)
        self.resolve = resolve

    # -- the URL as written ---------------------------------------------------------------
    def parse(self, url: str) -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetRefused(f"not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise TargetRefused("must be an http or https URL")
        if "@" in parts.netloc:
            raise TargetRefused(
                "must not carry a user name or password; each delivery is "
                "authenticated by its signature (X-Zhidu-Signature)")
        raw = parts.hostname or ""
        if not raw:
            raise TargetRefused("has no host")
        literal = self._literal(raw, bracketed=parts.netloc.startswith("["))
        if literal is not None:
            host = str(literal)
        else:
            try:
                host = raw.rstrip(".").encode("idna").decode("ascii")
            except UnicodeError:
                raise TargetRefused(f"{raw!r} is not a valid host name") from None
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if port == 0:
            raise TargetRefused("port 0 is not a port to send to")
        default = 443 if scheme == "https" else 80
        return Target(scheme, host, default if port is None else port, path, literal)

    @staticmethod
    def _literal(host: str, bracketed: bool) -> IP | None:
        if bracketed:
            if "%" in host:
                raise TargetRefused("an IPv6 address with a zone (%...) is not accepted")
            try:
                return ipaddress.IPv6Address(host)
            except ValueError:
                raise TargetRefused(f"[{host}] is not an IPv6 address") from None
        last = host.rstrip(".").rsplit(".", 1)[-1]
        if not _NUMERIC_LABEL.match(last):
            return None
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            raise TargetRefused(
                f"the host {host!r} is a number in another form than four decimal "
                f"parts (a.b.c.d); write the address that way, or use a name") from None

    # -- the addresses behind it --------------------------------------------------------------
    def refusal(self, address: IP) -> str | None:
        """Why ``address`` may not be reached, or ``None`` if it may."""
        judged = _embedded_ipv4(address) or address
        if address in METADATA or judged in METADATA:
            return "a cloud metadata address"
        if any(judged in net for net in self.allowed) or any(
                address in net for net in self.allowed):
            return None
        for kind, said in (("unspecified", "an unspecified"), ("loopback", "a loopback"),
                           ("link_local", "a link-local"), ("multicast", "a multicast"),
                           ("private", "a private"), ("reserved", "a reserved")):
            if getattr(judged, f"is_{kind}"):
                return f"{said} address"
        if not judged.is_global:
            return "not a public address"
        return None

    def check_address(self, address: IP, host: str) -> IP:
        why = self.refusal(address)
        if why is not None:
            shown = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
            rule = ("never reached" if address in METADATA or why.endswith("metadata address")
                    else f"webhooks reach public addresses, and networks listed in {SETTING}")
            raise TargetRefused(f"{shown} {why}; {rule}")
        return address

    def addresses(self, target: Target) -> list[IP]:
        """Every address the host has now, each checked; the attempt connects to the first.

        One refused address refuses the lot: a name that answers with both a
        public and an internal address is not one to trust with either.
        """
        if target.literal is not None:
            return [self.check_address(target.literal, target.host)]
        found = list(dict.fromkeys(self.resolve(target.host, target.port)))
        if not found:
            raise Unresolved(f"{target.host} does not resolve")
        checked = []
        for text in found:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                raise TargetRefused(f"{target.host} resolves to {text!r}, "
                                    f"not an address") from None
            checked.append(self.check_address(address, target.host))
        return checked

    def vet(self, url: str) -> Target:
        """Registration's check: the URL's form, then its addresses as of now."""
        target = self.parse(url)
        self.addresses(target)
        return target


def _embedded_ipv4(address: IP) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
