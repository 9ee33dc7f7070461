"""Outbound URL policy: which endpoint URLs we send to, checked again at every attempt.

- Only ``http`` and ``https``, with a host and without user info in the URL.
- The host is resolved and **every** address it resolves to must be public
  (``ipaddress``'s ``is_global`` and not multicast); private, loopback, link-local,
  shared, reserved and unspecified addresses are refused unless they fall in one of
  ``webhooks.allowed_networks`` (tests and local receivers allow ``127.0.0.0/8``).
- The request then goes to the checked address itself (the URL's host stays in the
  ``Host`` header and in TLS SNI), so a DNS answer that changes between the check and the
  connection (DNS rebinding) cannot redirect it.
- Redirects are never followed: a 3xx answer is a failed attempt (see delivery.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from divergence.errors import DivergenceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
ALLOW_HINT = "allow it with webhooks.allowed_networks"


class UrlRefusedError(DivergenceError):
    """An endpoint URL breaks the outbound policy; the message says which rule."""

    http_status = 400


@dataclass(frozen=True)
class PinnedRequest:
    """Where to connect (a checked address) and what to tell the server (host, SNI)."""

    url: httpx.URL
    host_header: str
    sni_hostname: str | None
    address: str


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the event loop's getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_url(url: str) -> httpx.URL:
    """``url`` as an httpx URL if its form is acceptable (scheme, host, no user info)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UrlRefusedError(f"url: not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise UrlRefusedError(f"url: scheme must be http or https, found {parsed.scheme!r}")
    if not parsed.host:
        raise UrlRefusedError(f"url: no host in {url!r}")
    if parsed.userinfo:
        raise UrlRefusedError("url: user info (user:password@) is not allowed in the URL")
    return parsed


def refusal(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why ``address`` may not be called (``None`` when it may)."""
    mapped = getattr(address, "ipv4_mapped", None)
    ip: IPAddress = mapped if mapped is not None else address
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return None


class UrlPolicy:
    """Checks URLs and pins each request to an address that passed the check."""

    def __init__(
        self, allowed_networks: Sequence[str], *, resolver: Resolver = system_resolver
    ) -> None:
        self.allowed: list[IPNetwork] = [
            ipaddress.ip_network(text, strict=False) for text in allowed_networks
        ]
        self._resolve = resolver

    async def check(self, url: str) -> PinnedRequest:
        """Resolve ``url``'s host, check every address, and pin the request to the first."""
        parsed = parse_url(url)
        host, port = parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await self._addresses(host, port)
        for text in addresses:
            reason = refusal(ipaddress.ip_address(text), self.allowed)
            if reason is not None:
                raise UrlRefusedError(
                    f"url: {host!r} resolves to {text}, which is {reason}; {ALLOW_HINT}"
                )
        address = addresses[0]
        return PinnedRequest(
            url=parsed.copy_with(host=address),
            host_header=parsed.netloc.decode("ascii"),
            sni_hostname=host if parsed.scheme == "https" else None,
            address=address,
        )

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [str(literal)]
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise UrlRefusedError(f"url: cannot resolve {host!r}: {exc}") from exc
        if not addresses:
            raise UrlRefusedError(f"url: {host!r} resolves to no address")
        return addresses
