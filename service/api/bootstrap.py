"""The first login: with no users at all, make an operator from the settings."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.api.security import hash_password, password_problem
from service.db import audit
from service.db.users import count_users, create_user
from service.settings import Settings

log = logging.getLogger("firelane.api")


def ensure_first_operator(sessions: sessionmaker[Session], settings: Settings) -> str | None:
    """Create the operator ``admin_username`` if the users table is empty; return its username.

    Without ``admin_password`` a random one is made and logged once: it is not stored anywhere else.
    """
    username = settings.admin_username
    generated = settings.admin_password is None
    password = secrets.token_urlsafe(12) if generated else settings.admin_password.get_secret_value()
    problem = password_problem(password, username)
    if problem:
        raise ValueError(f"FIRELANE_ADMIN_PASSWORD: {problem}")
    try:
        with sessions.begin() as session:
            if count_users(session):
                return None
            user = create_user(session, username=username, password_hash=hash_password(password), role="operator")
            audit.record(session, None, "user.bootstrap", f"user:{user.id}", {"username": username, "role": "operator"})
    except IntegrityError:  # another process starting at the same moment made it
        return None
    if generated:
        log.warning("first login: user %r, password %r (shown once; change it under /api/users)", username, password)
    else:
        log.warning("first login: user %r with the password in FIRELANE_ADMIN_PASSWORD", username)
    return username
