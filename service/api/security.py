"""Passwords (Argon2 via pwdlib), bearer tokens (JWT, HS256) and the signed session cookie.

Tokens and cookies carry the user id and the id of their login session (service.db.login_sessions): the server
ends a session by revoking its row, at logout (that session) or on a password change (all of the user's).
Tokens and cookies are signed with keys derived from the one ``secret_key`` so one can never be replayed as the
other.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import jwt
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pwdlib import PasswordHash

SESSION_COOKIE = "firelane_session"
_ALGORITHM = "HS256"
_AUDIENCE = "firelane-api"


@lru_cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@lru_cache
def _dummy_hash() -> str:
    return _hasher().hash("firelane: not a password anyone has")


MIN_PASSWORD_LENGTH = 10
# The most used passwords (public breach lists), and what people type when asked for one in Chinese offices.
COMMON_PASSWORDS = frozenset("""
123456 12345678 123456789 1234567890 12345678910 0123456789 1234567890a 1q2w3e4r5t 1qaz2wsx3edc qwertyuiop
qwerty123456 password password1 password12 password123 passw0rd p@ssw0rd p@ssword123 admin123456 administrator
iloveyou123 welcome123 letmein123 abc123456 abcd123456 a123456789 aa123456789 woaini1314 woaini520 5201314520
1314520520 qq123456789 zxcvbnm123 asdfghjkl1 111111111111 0000000000 1111111111 8888888888 6666666666
changeme123 firelane123 firelane2026 admin@123456 root123456 test123456 88888888888 147258369 147258369a
""".split())


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a password is too weak (None: acceptable): short, common, the username itself, or two characters."""
    lowered = password.lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 2 or (username and lowered == username.lower()):
        return "password is too common or too simple"
    return None


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not the user exists, so timing does not tell which usernames do."""
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False
    try:
        return _hasher().verify(password, password_hash)
    except Exception:  # an unreadable hash never authenticates
        return False


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def create_access_token(user_id: int, session_id: str, secret: str, ttl_s: int) -> str:
    now = datetime.now(timezone.utc)
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, _derive(secret, "jwt"), algorithm=_ALGORITHM)


def read_access_token(token: str, secret: str) -> tuple[int, str] | None:
    """(user id, session id) of a valid, unexpired token; None otherwise."""
    try:
        claims = jwt.decode(
            token, _derive(secret, "jwt"), algorithms=[_ALGORITHM], audience=_AUDIENCE,
            options={"require": ["sub", "sid", "exp", "aud"]},
        )
        return int(claims["sub"]), str(claims["sid"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def _cookie_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_derive(secret, "session-cookie"), salt="firelane.session")


def create_session_cookie(user_id: int, session_id: str, secret: str) -> str:
    return _cookie_serializer(secret).dumps({"uid": user_id, "sid": session_id})


def read_session_cookie(value: str, secret: str, max_age_s: int) -> tuple[int, str] | None:
    try:
        data = _cookie_serializer(secret).loads(value, max_age=max_age_s)
        return int(data["uid"]), str(data["sid"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
