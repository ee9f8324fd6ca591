"""Signing in over HTTP (httpx) as the sandbox's people, for the tests that need no browser."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

PASSWORDS = {
    "call.handler": "sandbox-call-handler",
    "receptionist": "sandbox-receptionist",
    "supervisor": "sandbox-supervisor",
}


def hidden_fields(text: str) -> dict[str, str]:
    return {
        k: html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text)
    }


def title(response: httpx.Response) -> str:
    found = re.search(r"<title>(.*?)</title>", response.text, re.S)
    return html.unescape(found[1]).strip() if found else ""


def signed_in(console: str, username: str) -> tuple[httpx.Client, str]:
    """A client with a console session for this person, and the session's CSRF token."""
    client = httpx.Client(follow_redirects=True, timeout=30)
    form = client.get(console + "/")
    assert "Sign in" in form.text, "an unsigned-in visit goes to the identity provider"
    page = client.post(
        str(form.url).split("?")[0],
        data={**hidden_fields(form.text), "username": username, "password": PASSWORDS[username]},
    )
    assert page.status_code == 200 and str(page.url).startswith(console), page.text[:500]
    return client, csrf(page.text)


def csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, "every signed-in page carries the CSRF token"
    return found[1]


def post(client: httpx.Client, console: str, path: str, **data: Any) -> httpx.Response:
    """A POST as the console's own pages send it (same Origin)."""
    return client.post(console + path, data=data, headers={"Origin": console})
