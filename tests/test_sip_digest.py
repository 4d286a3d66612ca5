"""Digest answers checked against the RFCs' own worked examples."""

from __future__ import annotations

import re

import pytest

from connectors.sip.digest import UnsupportedChallenge, authorization, parse_challenge


def response_of(header: str) -> str:
    match = re.search(r'response="([0-9a-f]+)"', header)
    assert match is not None
    return match.group(1)


def test_rfc2617_md5_qop_auth_example() -> None:
    challenge = parse_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                                'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                           password="Circle Of Life", cnonce="0a4f113b")
    assert response_of(header) == "6629fae49393a05397450978507c4ef1"
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "nc=00000001" in header


def test_rfc7616_sha256_example() -> None:
    challenge = parse_challenge('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
                                'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
                                'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    header = authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                           password="Circle of Life", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert response_of(header) == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_rfc2069_style_without_qop() -> None:
    import hashlib

    challenge = parse_challenge('Digest realm="127.0.0.1", nonce="abc123"')
    header = authorization(challenge, method="REGISTER", uri="sip:127.0.0.1", username="cti", password="pw")
    ha1 = hashlib.md5(b"cti:127.0.0.1:pw").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:127.0.0.1").hexdigest()
    assert response_of(header) == hashlib.md5(f"{ha1}:abc123:{ha2}".encode()).hexdigest()
    assert "qop" not in header and "cnonce" not in header


@pytest.mark.parametrize("value", ['Basic realm="x"', 'Digest realm="x", nonce="n", algorithm=SHA-512-256',
                                   'Digest realm="x", nonce="n", qop="auth-int"', 'Digest realm="x"'])
def test_challenges_it_cannot_answer_are_refused(value: str) -> None:
    with pytest.raises(UnsupportedChallenge):
        parse_challenge(value)
