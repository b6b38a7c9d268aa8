"""Logging in against misuse: throttling and lockout, a password policy, login from another site refused, and
headers that keep API answers and evidence out of caches and sniffers. On SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from test_api import ADMIN_PASSWORD, app, bearer, cheap_hashing, client, settings  # noqa: F401 - fixtures

pytest_plugins = ["faultkit"]  # fault_kit: a real firelane serve behind which the proxy headers arrive


def wrong(client: TestClient, username: str = "admin", **headers: str):
    return client.post("/api/auth/token", data={"username": username, "password": "not-the-password"}, headers=headers)


def test_wrong_passwords_lock_the_account_for_a_while_with_a_clear_message(client: TestClient) -> None:
    for _ in range(5):
        assert wrong(client).status_code == 401
    locked = client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert locked.status_code == 429, "even the right password waits out the lock"
    assert "locked for" in locked.json()["detail"]
    assert "此账号已被锁定" in locked.json()["detail_zh"][0] and "分钟后再试" in locked.json()["detail_zh"][0]
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert wrong(client, "nobody").status_code == 401, "other accounts are not locked by it"


def test_a_successful_login_starts_the_count_afresh(client: TestClient) -> None:
    for _ in range(4):
        assert wrong(client).status_code == 401
    bearer(client, "admin", ADMIN_PASSWORD)
    for _ in range(4):
        assert wrong(client).status_code == 401
    bearer(client, "admin", ADMIN_PASSWORD)


def test_one_address_guessing_many_accounts_is_throttled(client: TestClient) -> None:
    for n in range(30):
        assert wrong(client, f"guess-{n}").status_code == 401
    assert wrong(client, "guess-next").status_code == 429


def test_weak_passwords_are_refused(client: TestClient) -> None:
    headers = bearer(client, "admin", ADMIN_PASSWORD)
    for password, reason in (("12345678", "at least 10"), ("1234567890", "too common"), ("aaaaaaaaaaaa", "too simple"),
                             ("Password123", "too common")):
        response = client.post("/api/users", headers=headers,
                               json={"username": "staff", "password": password, "role": "police"})
        assert response.status_code == 422 and reason in response.text, password
    assert client.post("/api/users", headers=headers, json={
        "username": "staff", "password": "lane clear at dawn", "role": "police"}).status_code == 201


def test_login_from_another_site_is_refused(client: TestClient) -> None:
    form = {"username": "admin", "password": ADMIN_PASSWORD}
    assert client.post("/login", data=form, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/login", data=form, headers={"Origin": "http://testserver"}).status_code == 200


def test_answers_are_not_sniffed_framed_or_cached(client: TestClient) -> None:
    headers = bearer(client, "admin", ADMIN_PASSWORD)
    for response in (client.get("/api/violations", headers=headers), client.get("/api/health"),
                     client.get("/api/violations/nope", headers=headers)):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"


def test_logout_ends_this_session_on_the_server_and_no_other(client: TestClient) -> None:
    phone = bearer(client, "admin", ADMIN_PASSWORD)  # another device of the same user
    assert client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    cookie = client.cookies.get("firelane_session")
    assert client.get("/api/auth/me").status_code == 200
    assert client.post("/logout").status_code == 200
    client.cookies.set("firelane_session", cookie)  # a copy of the cookie, kept after logout
    assert client.get("/api/auth/me").status_code == 401, "the copied cookie is dead on the server"
    client.cookies.clear()
    assert client.get("/api/auth/me", headers=phone).status_code == 200, "the other device stays logged in"


def test_an_api_client_logs_out_its_own_token(client: TestClient) -> None:
    first, second = bearer(client, "admin", ADMIN_PASSWORD), bearer(client, "admin", ADMIN_PASSWORD)
    assert client.post("/logout", headers=first).status_code == 200
    assert client.get("/api/auth/me", headers=first).status_code == 401
    assert client.get("/api/auth/me", headers=second).status_code == 200


def test_a_password_change_ends_every_session_of_the_user(client: TestClient) -> None:
    admin = bearer(client, "admin", ADMIN_PASSWORD)
    created = client.post("/api/users", headers=admin,
                          json={"username": "officer", "password": "lane clear at dawn", "role": "police"})
    assert created.status_code == 201
    officer = bearer(client, "officer", "lane clear at dawn")
    assert client.post("/login", data={"username": "officer", "password": "lane clear at dawn"}).status_code == 200
    changed = client.patch(f"/api/users/{created.json()['id']}", headers=admin,
                           json={"password": "another long phrase"})
    assert changed.status_code == 200, changed.text
    assert client.get("/api/auth/me", headers=officer).status_code == 401
    assert client.get("/api/auth/me").status_code == 401, "the browser session ended too"
    assert client.get("/api/auth/me", headers=admin).status_code == 200, "nobody else is logged out"
    assert client.get("/api/auth/me", headers=bearer(client, "officer", "another long phrase")).status_code == 200


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-proxy", "untrusted-header"])
def test_cookies_are_secure_behind_a_trusted_https_proxy_only(fault_kit, trusted: bool) -> None:
    """Behind a TLS-terminating proxy the server sees plain HTTP: X-Forwarded-Proto from a trusted proxy makes the
    cookie Secure; the same header from anyone else is ignored (it could as well claim any client address)."""
    server = fault_kit.server({"FIRELANE_TRUSTED_PROXIES": "127.0.0.1" if trusted else None})
    server.wait_ready()
    response = httpx.post(server.url + "/login", data={"username": server.username, "password": server.password},
                          headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}, timeout=30)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("firelane_session=") and "httponly" in cookie.lower()
    assert ("secure" in cookie.lower().split("; ")) is trusted
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = client.post("/api/auth/token", data={"username": server.username, "password": server.password})
        entries = client.get("/api/audit", params={"action": "auth.login"},
                             headers={"Authorization": f"Bearer {token.json()['access_token']}"}).json()
    first_login = entries[-1]
    assert first_login["details"]["client"] == ("203.0.113.7" if trusted else "127.0.0.1")
