"""Sites (compounds). The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from service.db.errors import ConflictError, InvalidError, NotFoundError
from service.db.models import DEFAULT_CLEAR_LIMIT_S, Alert, Camera, Site, User


def list_sites(session: Session, *, only_site_id: int | None = None) -> list[Site]:
    query = select(Site).order_by(Site.code)
    if only_site_id is not None:
        query = query.where(Site.id == only_site_id)
    return list(session.scalars(query))


def get_site(session: Session, site_id: int, *, only_site_id: int | None = None) -> Site:
    site = session.get(Site, site_id)
    if site is None or (only_site_id is not None and site.id != only_site_id):
        raise NotFoundError(f"no site {site_id}")
    return site


def get_site_by_code(session: Session, code: str) -> Site | None:
    return session.scalar(select(Site).where(Site.code == code))


def create_site(
    session: Session, *, code: str, name: str, address: str = "", clear_limit_s: int = DEFAULT_CLEAR_LIMIT_S
) -> Site:
    if get_site_by_code(session, code) is not None:
        raise ConflictError(f"a site with code {code!r} exists")
    site = Site(code=code, name=name, address=address, clear_limit_s=clear_limit_s)
    session.add(site)
    session.flush()
    return site


def update_site(session: Session, site: Site, changes: Mapping[str, Any]) -> Site:
    code = changes.get("code")
    if code is not None and code != site.code and get_site_by_code(session, code) is not None:
        raise ConflictError(f"a site with code {code!r} exists")
    for key, value in changes.items():
        setattr(site, key, value)
    session.flush()
    return site


def delete_site(session: Session, site: Site) -> None:
    """Only a site nothing refers to: its cameras, users and alerts have to go (or move) first."""
    for model, what in ((Camera, "cameras"), (User, "users"), (Alert, "alerts")):
        if session.scalar(select(exists().where(model.site_id == site.id))):
            raise ConflictError(f"site {site.code!r} still has {what}; remove or move them first")
    session.delete(site)
    session.flush()


def require_site(session: Session, site_id: int) -> Site:
    """A site referred to from a request body: a missing one is invalid input, not a missing resource."""
    site = session.get(Site, site_id)
    if site is None:
        raise InvalidError(f"site_id: no site {site_id}")
    return site
