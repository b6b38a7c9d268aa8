"""Logging in against misuse: throttling and lockout, a password policy, login from another site refused, and
headers that keep API answers and evidence out of caches and sniffers. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from test_api import ADMIN_PASSWORD, app, bearer, cheap_hashing, client, settings  # noqa: F401 - fixtures


def wrong(client: TestClient, username: str = "admin", **headers: str):
    return client.post("/api/auth/token", data={"username": username, "password": "not-the-password"}, headers=headers)


def test_wrong_passwords_lock_the_account_for_a_while_with_a_clear_message(client: TestClient) -> None:
    for _ in range(5):
        assert wrong(client).status_code == 401
    locked = client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert locked.status_code == 429, "even the right password waits out the lock"
    assert "locked for" in locked.json()["detail"] and "分钟后再试" in locked.json()["detail"]
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


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    assert client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    cookie = client.cookies.get("firelane_session")
    token = bearer(client, "admin", ADMIN_PASSWORD)
    assert client.get("/api/auth/me").status_code == 200
    assert client.post("/logout").status_code == 200
    client.cookies.set("firelane_session", cookie)  # a copy of the cookie, kept after logout
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers=token).status_code == 401, "every session of the user ends"
    client.cookies.clear()
    assert client.get("/api/auth/me", headers=bearer(client, "admin", ADMIN_PASSWORD)).status_code == 200
