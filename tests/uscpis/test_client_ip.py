"""client_ip: the caller's address behind TRUSTED_PROXY_COUNT proxies, never free text."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from uscpis.http import client_ip


def _request(remote="172.18.0.5", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_a_trusted_proxy_forwarded_for_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client wrote the left part
        (1, " 6.6.6.6 ,198.51.100.7 ", "198.51.100.7"),
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (1, "198.51.100.7:51234", "198.51.100.7"),
        (1, "[2001:DB8::1]:443", "2001:db8::1"),
        (1, "2001:DB8:0:0::1", "2001:db8::1"),
        (1, "not an ip <script>", "172.18.0.5"),  # a malformed hop falls back to the peer
        (1, "", "172.18.0.5"),
        (2, "198.51.100.7", "172.18.0.5"),  # fewer hops than proxies: did not come through them
    ],
)
def test_the_trusted_hop_from_the_right_is_the_client(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request(forwarded=forwarded)) == expected


def test_no_header_uses_the_peer_address(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(_request("198.51.100.9")) == "198.51.100.9"


@pytest.mark.parametrize("remote", ["", "unix:/run/gunicorn.sock", "<b>x</b>"])
def test_an_unusable_peer_address_is_none(settings, remote):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request(remote)) is None


def test_axes_uses_the_same_address(settings):
    from axes.helpers import get_client_ip_address

    settings.TRUSTED_PROXY_COUNT = 1
    assert get_client_ip_address(_request(forwarded="6.6.6.6, 198.51.100.7")) == "198.51.100.7"
