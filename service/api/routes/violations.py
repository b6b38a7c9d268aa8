"""Violations, their evidence, and police review."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse

from service.api.deps import (
    CurrentUser,
    PoliceUser,
    ReviewReader,
    SessionDep,
    StrictJSONRoute,
    site_scope,
)
from service.api.evidence import evidence_file, export_zip, integrity, iter_file
from service.api.present import violation_detail, violation_out
from service.api.ranges import bytes_response
from service.api.schemas import (
    CAMERA_ID_PATTERN,
    SITE_CODE_PATTERN,
    Limit,
    Offset,
    QueuedViolationOut,
    ReviewIn,
    ReviewOut,
    ReviewStatus,
    ViolationDetail,
    ViolationIdPath,
    ViolationOut,
)
from service.db import audit, reviews
from service.db.errors import NotFoundError
from service.db.models import Review, User
from service.signing import key_id, public_key_pem
from service.db.violation_search import get_violation, search_violations
from service.verify import EvidenceCheck

router = APIRouter(tags=["violations"], route_class=StrictJSONRoute)


@router.get("/api/violations", response_model=list[ViolationOut])
def list_violations(
    session: SessionDep,
    user: CurrentUser,
    site: Annotated[str | None, Query(description="site code", pattern=SITE_CODE_PATTERN)] = None,
    camera: Annotated[str | None, Query(pattern=CAMERA_ID_PATTERN)] = None,
    status: ReviewStatus | None = None,
    open_only: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ViolationOut]:
    """Newest first; property staff see their own site's only."""
    rows = search_violations(
        session, only_site_id=site_scope(user), site_code=site, camera_id=camera, status=status,
        open_only=open_only, limit=limit, offset=offset,
    )
    return [violation_out(row, user) for row in rows]


@router.get("/api/reviews/queue", response_model=list[QueuedViolationOut], tags=["reviews"])
def review_queue(
    session: SessionDep,
    user: ReviewReader,
    escalated_only: Annotated[bool, Query(description="only those escalated for not being cleared in time")] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[QueuedViolationOut]:
    """Violations waiting for a police decision, across sites: those escalated because the lane was not
    cleared in the site's limit first (``escalated_at`` set), then the others, oldest first."""
    rows = reviews.review_queue(session, escalated_only=escalated_only, limit=limit, offset=offset)
    return [
        QueuedViolationOut(**violation_out(row, user).model_dump(), escalated=row.escalated_at is not None,
                           escalated_at=row.escalated_at, alert_id=row.alert_id)
        for row in rows
    ]


@router.get("/api/evidence/public-key", response_class=PlainTextResponse, tags=["evidence"])
def get_public_key(request: Request) -> PlainTextResponse:
    """The installation's Ed25519 public key (PEM): it verifies every manifest.sig, offline (`firelane verify`)."""
    key = request.app.state.signer.public_key
    return PlainTextResponse(public_key_pem(key), headers={"X-Firelane-Key-Id": key_id(key)})


@router.get("/api/violations/{violation_id}", response_model=ViolationDetail)
def get_violation_detail(violation_id: ViolationIdPath, request: Request, session: SessionDep,
                         user: CurrentUser) -> ViolationDetail:
    """The violation, its evidence, and whether that evidence is intact (checked now, every time it is shown) and
    signed when recorded or sealed later."""
    row = get_violation(session, violation_id, only_site_id=site_scope(user), with_evidence=True)
    try:
        check = integrity(request.app.state.evidence_store, row.violation, request.app.state.signer.public_key)
    except NotFoundError:
        check = EvidenceCheck(["evidence folder missing"])
    return violation_detail(row, user, reviews.get_review(session, violation_id), check)


@router.get(
    "/api/violations/{violation_id}/evidence/{name:path}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "video/webm": {}, "application/json": {}}}},
)
def get_evidence_file(
    violation_id: ViolationIdPath, name: str, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    """One file listed in the violation's evidence, from its folder in the evidence store."""
    row = get_violation(session, violation_id, only_site_id=site_scope(user), with_evidence=True)
    content = evidence_file(request.app.state.evidence_store, row.violation, name)
    media_type = next(f.media_type for f in row.violation.evidence if f.name == name)
    if isinstance(content, bytes):  # from object storage
        disposition = f"inline; filename*=UTF-8''{quote(name)}"
        return bytes_response(content, media_type, {"Content-Disposition": disposition}, request.headers.get("range"))
    return FileResponse(content, media_type=media_type, filename=name, content_disposition_type="inline")


@router.get(
    "/api/violations/{violation_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_evidence(
    violation_id: ViolationIdPath, request: Request, session: SessionDep, user: ReviewReader
) -> StreamingResponse:
    """The evidence folder (stills, crop, clip, manifest and its signature) as one ZIP for the case file, with the
    public key, the police decision and how to verify it offline. Evidence that fails its check is refused (409)
    with the reasons: a case file must not carry altered evidence."""
    row = get_violation(session, violation_id, with_evidence=True)
    public_key = request.app.state.signer.public_key
    store = request.app.state.evidence_store
    problems = integrity(store, row.violation, public_key).problems
    if problems:
        audit.record(session, user.id, "violation.export_refused", f"violation:{violation_id}", {"problems": problems})
        session.commit()
        raise HTTPException(status.HTTP_409_CONFLICT, {"message": "evidence failed its integrity check; not exported",
                                                       "problems": problems})
    review = reviews.get_review(session, violation_id)
    decision = None
    if review is not None:
        reviewer = session.get(User, review.reviewer_id)
        decision = {"decision": review.decision, "plate_text": review.plate_text, "reason": review.reason,
                    "reviewer": reviewer.username if reviewer else None, "decided_at": review.created_at.isoformat()}
    archive = export_zip(store, row.violation, public_key, decision)
    audit.record(session, user.id, "violation.export", f"violation:{violation_id}", {})
    session.commit()
    filename = quote(f"firelane-{violation_id}.zip")
    return StreamingResponse(
        iter_file(archive),
        media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


@router.post(
    "/api/violations/{violation_id}/review",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    tags=["reviews"],
    responses={409: {"description": "already decided"}},
)
def review_violation(violation_id: ViolationIdPath, body: ReviewIn, session: SessionDep, user: PoliceUser) -> Review:
    """Confirm with the plate read from the evidence, or reject with a reason; once per violation."""
    review = reviews.decide(
        session, violation_id, user.id, body.decision, plate_text=body.plate_text, reason=body.reason
    )
    action = "review.confirm" if body.decision == "confirmed" else "review.reject"
    details = {"plate_text": review.plate_text} if review.plate_text else {"reason": review.reason}
    machine = reviews.plate_read(session, violation_id)  # kept beside the confirmed plate: both stay
    if review.plate_text and machine:
        details.update(plate_read=machine, corrected=machine != review.plate_text)
    audit.record(session, user.id, action, f"violation:{violation_id}", details)
    session.commit()
    return review
