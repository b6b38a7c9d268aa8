"""Sites (compounds): operators manage them; property staff see their own; police see all."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import CurrentUser, OperatorUser, SessionDep, StrictJSONRoute, site_scope
from service.api.schemas import IdPath, SiteCreate, SiteOut, SiteUpdate
from service.db import audit, sites
from service.db.models import Site

router = APIRouter(prefix="/api/sites", tags=["sites"], route_class=StrictJSONRoute)


@router.get("", response_model=list[SiteOut])
def list_sites(session: SessionDep, user: CurrentUser) -> list[Site]:
    return sites.list_sites(session, only_site_id=site_scope(user))


@router.post("", response_model=SiteOut, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, session: SessionDep, user: OperatorUser) -> Site:
    site = sites.create_site(session, **body.model_dump())
    audit.record(session, user.id, "site.create", f"site:{site.id}", body.model_dump())
    session.commit()
    return site


@router.get("/{site_id}", response_model=SiteOut)
def get_site(site_id: IdPath, session: SessionDep, user: CurrentUser) -> Site:
    return sites.get_site(session, site_id, only_site_id=site_scope(user))


@router.patch("/{site_id}", response_model=SiteOut)
def update_site(site_id: IdPath, body: SiteUpdate, session: SessionDep, user: OperatorUser) -> Site:
    site = sites.update_site(session, sites.get_site(session, site_id), body.changes())
    audit.record(session, user.id, "site.update", f"site:{site.id}", body.changes())
    session.commit()
    return site


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(site_id: IdPath, session: SessionDep, user: OperatorUser) -> Response:
    site = sites.get_site(session, site_id)
    code = site.code
    sites.delete_site(session, site)
    audit.record(session, user.id, "site.delete", f"site:{site_id}", {"code": code})
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
