"""Outbound URL policy: schemes, every resolved address checked, the request pinned."""

from __future__ import annotations

import ipaddress

import pytest
from webhook_harness import LOOPBACK, PUBLIC_IP

from divergence.webhooks.url_policy import (
    Resolver,
    UrlPolicy,
    UrlRefusedError,
    parse_url,
    refusal,
)


def _fixed(*answers: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(answers)

    return resolve


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "scheme must be http or https, found 'ftp'"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("https://user:pw@example.com/", "user info"),
        ("http:///nohost", "no host"),
    ],
)
def test_url_policy_refuses_bad_forms(url: str, problem: str) -> None:
    with pytest.raises(UrlRefusedError, match=problem):
        parse_url(url)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("224.0.0.1", "not a public address"),
        (PUBLIC_IP, None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_url_policy_address_classes(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), []) == reason


def test_url_policy_allowed_networks_open_only_themselves() -> None:
    allowed = [ipaddress.ip_network(n) for n in LOOPBACK]
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::1"), allowed) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), allowed) == "private"


async def test_url_policy_every_resolved_address_must_pass() -> None:
    policy = UrlPolicy((), resolver=_fixed(PUBLIC_IP, "10.0.0.7"))
    with pytest.raises(UrlRefusedError, match=r"resolves to 10\.0\.0\.7, which is private"):
        await policy.check("https://hooks.example.com/in")


async def test_url_policy_pins_request_to_checked_address() -> None:
    policy = UrlPolicy((), resolver=_fixed(PUBLIC_IP))
    pinned = await policy.check("https://hooks.example.com:8443/in?x=1")
    assert str(pinned.url) == f"https://{PUBLIC_IP}:8443/in?x=1"
    assert pinned.host_header == "hooks.example.com:8443"
    assert pinned.sni_hostname == "hooks.example.com"
    plain = await policy.check("http://hooks.example.com/in")
    assert (str(plain.url), plain.host_header, plain.sni_hostname) == (
        f"http://{PUBLIC_IP}/in",
        "hooks.example.com",
        None,
    )


async def test_url_policy_literal_addresses_skip_dns() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("literal addresses must not be resolved")

    policy = UrlPolicy(LOOPBACK, resolver=no_dns)
    assert (await policy.check("http://[::1]:9000/h")).address == "::1"
    with pytest.raises(UrlRefusedError, match="which is private"):
        await UrlPolicy((), resolver=no_dns).check("http://10.0.0.1/h")


async def test_url_policy_dns_rebinding_is_caught_at_each_check() -> None:
    answers = [[PUBLIC_IP], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    policy = UrlPolicy((), resolver=rebinding)
    assert (await policy.check("http://evil.example/h")).address == PUBLIC_IP
    with pytest.raises(UrlRefusedError, match="which is loopback"):
        await policy.check("http://evil.example/h")


async def test_url_policy_resolution_failure_is_refused() -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UrlRefusedError, match=r"cannot resolve 'nowhere\.invalid'"):
        await UrlPolicy((), resolver=broken).check("http://nowhere.invalid/")
    with pytest.raises(UrlRefusedError, match="resolves to no address"):
        await UrlPolicy((), resolver=_fixed()).check("http://empty.example/")


async def test_url_policy_system_resolver_localhost_refused_then_allowed() -> None:
    with pytest.raises(UrlRefusedError, match="loopback"):
        await UrlPolicy(()).check("http://localhost:9/")
    pinned = await UrlPolicy(LOOPBACK).check("http://localhost:9/")
    assert pinned.address in ("127.0.0.1", "::1")
