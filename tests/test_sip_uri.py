"""harness/sip/uri.py takes apart the URIs the lab reads off the wire and the adapter names in messages."""

from __future__ import annotations

import pytest

from harness.sip.uri import host_of, hostport_of, uri_of, user_of


def test_uri_of_name_addr_and_addr_spec() -> None:
    assert uri_of('"Lab" <sip:1001@127.0.0.1:5070;transport=udp>;tag=ab') == "sip:1001@127.0.0.1:5070;transport=udp"
    assert uri_of("sip:1001@127.0.0.1;tag=ab") == "sip:1001@127.0.0.1"


def test_user_of() -> None:
    assert user_of("sip:1001@host") == "1001"
    assert user_of("sip:host") == ""


@pytest.mark.parametrize(("uri", "expected"), [
    ("sip:1001@127.0.0.1:5070", ("127.0.0.1", 5070)),
    ("sip:1001@example.org", ("example.org", 5060)),
    ("sip:[::1]:5062;lr", ("::1", 5062)),
    ("sips:pbx.example.org;transport=tls", ("pbx.example.org", 5060)),
])
def test_hostport_of(uri: str, expected: tuple[str, int]) -> None:
    assert hostport_of(uri) == expected


def test_hostport_of_refuses_what_is_not_a_sip_uri() -> None:
    with pytest.raises(ValueError, match="not a SIP URI"):
        hostport_of("tel:+4420")


@pytest.mark.parametrize(("uri", "expected"), [
    ("sip:1@nonexistent.invalid", "nonexistent.invalid"),
    ("1@nonexistent.invalid:5070", "nonexistent.invalid"),
    ("sip:[2001:db8::1]:5060", "2001:db8::1"),
    ("", None),
])
def test_host_of(uri: str, expected: str | None) -> None:
    assert host_of(uri) == expected
