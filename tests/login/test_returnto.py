"""No open redirect through return_to."""

from __future__ import annotations

import pytest

from gateway.login.returnto import safe_return_to

ALLOWED = ["https://app.example.com"]


@pytest.mark.parametrize(
    "value",
    [
        "/", "/demo/", "/a/b?x=1&y=2#frag", "/%E4%B8%AD%E6%96%87",
        "https://app.example.com/after", "https://APP.example.com/x?y=1",
    ],
)  # fmt: skip
def test_allowed(value: str) -> None:
    assert safe_return_to(value, ALLOWED, "/home") == value


@pytest.mark.parametrize(
    "value",
    [
        "//evil.com", "//evil.com/x", "/\\evil.com", "\\\\evil.com", "https:evil.com",
        "https:/evil.com", "http://evil.com", "https://app.example.com.evil.com/",
        "https://user@app.example.com/", "javascript:alert(1)", "%2F%2Fevil.com",
        "/%2F%2Fevil.com", "/%2Fevil.com", "/%5Cevil.com", "/%252F%252Fevil.com",
        "/\t/evil.com", "/x\r\nSet-Cookie: a=b", "ftp://app.example.com/", "", "evil.com",
        "data:text/html,x", "/" + "a" * 3000,
    ],
)  # fmt: skip
def test_refused(value: str) -> None:
    assert safe_return_to(value, ALLOWED, "/home") == "/home"


def test_none_gives_default() -> None:
    assert safe_return_to(None, ALLOWED, "/home") == "/home"
