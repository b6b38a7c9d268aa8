"""Users: operators manage them. Deleting deactivates (reviews and the audit log keep their author)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import OperatorUser, SessionDep, StrictJSONRoute
from service.api.schemas import IdPath, UserCreate, UserOut, UserUpdate
from service.api.security import hash_password
from service.db import audit, users
from service.db.models import User

router = APIRouter(prefix="/api/users", tags=["users"], route_class=StrictJSONRoute)


@router.get("", response_model=list[UserOut])
def list_users(session: SessionDep, _: OperatorUser) -> list[User]:
    return users.list_users(session)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, user: OperatorUser) -> User:
    created = users.create_user(
        session,
        username=body.username,
        password_hash=hash_password(body.password),
        role=body.role,
        site_id=body.site_id,
        active=body.active,
    )
    details = body.model_dump(exclude={"password"})
    audit.record(session, user.id, "user.create", f"user:{created.id}", details)
    session.commit()
    return created


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: IdPath, session: SessionDep, _: OperatorUser) -> User:
    return users.get_user(session, user_id)


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: IdPath, body: UserUpdate, session: SessionDep, user: OperatorUser) -> User:
    changes = body.changes()
    password = changes.pop("password", None)
    if password is not None:
        changes["password_hash"] = hash_password(password)
    updated = users.update_user(session, users.get_user(session, user_id), changes)
    details = {k: v for k, v in changes.items() if k != "password_hash"}
    if password is not None:
        details["password_changed"] = True
    audit.record(session, user.id, "user.update", f"user:{updated.id}", details)
    session.commit()
    return updated


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def deactivate_user(user_id: IdPath, session: SessionDep, user: OperatorUser) -> Response:
    target = users.update_user(session, users.get_user(session, user_id), {"active": False})
    audit.record(session, user.id, "user.deactivate", f"user:{target.id}", {"username": target.username})
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
