"""Turning rows into response bodies, with what each role may see."""

from __future__ import annotations

from urllib.parse import quote

from detector.sources import redact_url
from service.api.messages import translate
from service.api.schemas import CameraOut, EvidenceOut, ReviewOut, ViolationDetail, ViolationOut
from service.db.models import Camera, Review, User
from service.db.violation_search import SitedViolation
from service.verify import EvidenceCheck


def redact_source(url: str) -> str:
    """Credentials hidden: user:password@ and any query string (tokens, ?pwd=...)."""
    redacted = redact_url(url)
    base, sep, _query = redacted.partition("?")
    return f"{base}?***" if sep else base


def camera_out(camera: Camera, user: User) -> CameraOut:
    out = CameraOut.model_validate(camera)
    if user.role != "operator":
        out.source_url = redact_source(camera.source_url)
    return out


def _violation_fields(row: SitedViolation, user: User) -> dict:
    v = row.violation
    data = {name: getattr(v, name) for name in ViolationOut.model_fields if hasattr(v, name)}
    data.update(site_id=row.site_id, site_code=row.site_code, site_name=row.site_name)
    if user.role != "operator":
        data["source"] = redact_source(v.source)
    return data


def violation_out(row: SitedViolation, user: User) -> ViolationOut:
    return ViolationOut.model_validate(_violation_fields(row, user))


def violation_detail(row: SitedViolation, user: User, review: Review | None, check: EvidenceCheck) -> ViolationDetail:
    v = row.violation
    evidence = [
        EvidenceOut(
            name=f.name, role=f.role, media_type=f.media_type, sha256=f.sha256, bytes=f.bytes,
            captured_at=f.captured_at, url=f"/api/violations/{quote(v.id, safe='')}/evidence/{quote(f.name, safe='')}",
        )
        for f in v.evidence
    ]
    review_out = ReviewOut.model_validate(review) if review is not None else None
    return ViolationDetail.model_validate({**_violation_fields(row, user), "evidence": evidence, "review": review_out,
                                          "integrity": check.problems,
                                          "integrity_zh": [translate(p) or p for p in check.problems],
                                          "sealed_later_at": check.sealed_later_at})
