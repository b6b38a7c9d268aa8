"""Schemathesis against the app's own OpenAPI: no request it generates, valid or not, gets a server error.

The world is test_api's (two sites with a camera each, users of every role, violations with evidence and
alerts). Every operation is fuzzed as an operator on SQLite and on PostgreSQL, where a 32-bit integer
column or a NUL in a string fails at the database; police and property staff are fuzzed on SQLite on what
their role may call. The run is bounded (examples per operation) and seeded, so CI sends the same requests
every time.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from test_api import (  # noqa: F401 - fixtures used by name
    ZONES_A,
    World,
    app,
    audit_actions,
    cheap_hashing,
    client,
    sessions,
    settings,
    world,
)

from service.db.models import ZoneVersion

USERNAMES = {"operator": "admin", "police": "police", "property": "prop-a"}
MAX_EXAMPLES = 25
# Only operators may call these: other roles get 403 whatever they send, so fuzzing them again adds nothing.
OPERATOR_ONLY = {"enabled": False, "include-name": [
    "POST /api/sites", "PATCH /api/sites/{site_id}", "DELETE /api/sites/{site_id}",
    "POST /api/cameras", "PATCH /api/cameras/{camera_id}", "DELETE /api/cameras/{camera_id}",
    "PUT /api/cameras/{camera_id}/zones", "GET /api/users", "POST /api/users", "GET /api/users/{user_id}",
    "PATCH /api/users/{user_id}", "DELETE /api/users/{user_id}", "GET /api/audit",
    "POST /api/cameras/probe", "POST /api/cameras/{camera_id}/snapshot",
]}
# A weekly report renders HTML and PDF for every site the caller sees, seconds each: a few examples, and none
# for the operator, whose fuzzing has added sites by then (police and property staff send the same parameters).
WEEKLY_REPORT = {"include-name": "POST /api/reports/weekly", "generation": {"max-examples": 5},
                 "phases": {"coverage": {"enabled": False}}}
OPERATOR_WEEKLY_REPORT = {"include-name": "POST /api/reports/weekly", "enabled": False}


@pytest.fixture
def role(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def api_schema(world: World, role: str) -> schemathesis.BaseSchema:
    """The operator's run sends coverage cases too (each bound, each wrong type); the other roles' runs send random
    examples to what they may call, along the code paths scoped to them."""
    operator = role == "operator"
    config = schemathesis.Config.from_dict({
        "seed": 20261102,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none", "no-shrink": True},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": operator}},
        "request-timeout": 60,
        "headers": world.as_(USERNAMES[role]),
        "operations": [OPERATOR_WEEKLY_REPORT] if operator else [WEEKLY_REPORT, OPERATOR_ONLY],
    })
    return schemathesis.openapi.from_asgi("/openapi.json", world.app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def locks_itself_out(case: schemathesis.Case, world: World, role: str) -> bool:
    """The fuzzing user logging out (its bearer token's session ends), or changing or deactivating its own account,
    would turn every later request into a 401."""
    if case.path == "/logout":
        return True
    if case.path != "/api/users/{user_id}" or case.method not in ("PATCH", "DELETE"):
        return False
    own_id = world.client.get("/api/auth/me", headers=world.as_(USERNAMES[role])).json()["id"]
    try:
        return int(case.path_parameters["user_id"]) == own_id  # generated as text too: "1", "01"
    except (TypeError, ValueError):
        return False


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # charts of fuzzed site names
@pytest.mark.parametrize(("db_url", "role"), [
    ("sqlite", "operator"),
    ("sqlite", "police"),
    ("sqlite", "property"),
    pytest.param("postgresql", "operator", marks=pytest.mark.postgres),
], indirect=True)
@schema.parametrize()
def test_no_server_error(case: schemathesis.Case, world: World, role: str) -> None:
    if locks_itself_out(case, world, role):
        return
    case.call_and_validate(checks=[not_a_server_error])


# --- what the fuzzing found, and the bounds behind the fixes, pinned on both backends ---

BEYOND_INT32 = 2**40


def test_ids_and_offsets_beyond_the_integer_columns_are_422(world: World) -> None:
    client, op = world.client, world.as_("admin")
    for url in (f"/api/sites/{BEYOND_INT32}", f"/api/users/{BEYOND_INT32}", f"/api/alerts/{BEYOND_INT32}",
                f"/api/sites/{BEYOND_INT32}/ledger", f"/api/cameras?site_id={BEYOND_INT32}",
                f"/api/offenders?site_id={BEYOND_INT32}", f"/api/hotspots?site_id={BEYOND_INT32}",
                f"/api/hotspots/blocked-minutes.svg?site_id={BEYOND_INT32}", f"/api/audit?user_id={BEYOND_INT32}",
                f"/api/audit?offset={BEYOND_INT32}", f"/api/alerts?offset={BEYOND_INT32}",
                f"/api/board/alerts?id=1&id={BEYOND_INT32}", "/api/sites/0", "/api/users/-1"):
        response = client.get(url, headers=op)
        assert response.status_code == 422, (url, response.text)
    for url in (f"/api/alerts/{BEYOND_INT32}/ack", f"/api/alerts/{BEYOND_INT32}/cleared"):
        assert client.post(url, headers=op).status_code == 422, url
    assert client.patch(f"/api/sites/{BEYOND_INT32}", json={}, headers=op).status_code == 422
    assert client.delete(f"/api/users/{BEYOND_INT32}", headers=op).status_code == 422
    camera = {"id": "camC", "site_id": BEYOND_INT32, "name": "C", "source_url": "rtsp://127.0.0.1/c"}
    assert client.post("/api/cameras", json=camera, headers=op).status_code == 422
    user = {"username": "prop-c", "password": "long enough", "role": "property", "site_id": BEYOND_INT32}
    assert client.post("/api/users", json=user, headers=op).status_code == 422
    assert client.post("/api/reports/weekly", json={"site_id": BEYOND_INT32}, headers=op).status_code == 422
    largest = 2**31 - 1  # in range, and no such row
    assert client.get(f"/api/sites/{largest}", headers=op).status_code == 404
    assert client.get(f"/api/alerts?offset={largest}", headers=op).json() == []


def test_nul_and_oversized_strings_are_422_not_a_database_error(world: World) -> None:
    client, op = world.client, world.as_("admin")
    for body in ({"code": "nul", "name": "a\x00b"}, {"code": "nul", "name": "ok", "address": "\x00"}):
        response = client.post("/api/sites", json=body, headers=op)
        assert response.status_code == 422 and "NUL" in response.text, body
    assert client.patch("/api/cameras/camA", json={"timezone": "Asia/" + "x" * 60}, headers=op).status_code == 422
    assert client.patch("/api/cameras/camA", json={"source_url": "rtsp://\x00"}, headers=op).status_code == 422
    for url in ("/api/violations?camera=cam%00A", "/api/violations?site=garden%00", "/api/violations/v%00A",
                "/api/cameras/cam%00A", "/api/audit?target=site%00", "/api/hotspots?since=" + "2" * 41):
        assert client.get(url, headers=op).status_code == 422, url
    police = world.as_("police")
    review = {"decision": "rejected", "reason": "no\x00vehicle"}
    assert client.post("/api/violations/vA/review", json=review, headers=police).status_code == 422

    refused = client.post("/api/auth/token", data={"username": "ad\x00min", "password": "whatever"})
    assert refused.status_code == 401
    assert ("auth.login_failed", "user:ad?min") in audit_actions(world.app)[-2:]  # and one for the client address


def raw_json(document: dict, placeholder: str, literal: str) -> str:
    """``document`` as JSON text with the string ``placeholder`` replaced by ``literal`` (NaN, 1e999, ...)."""
    return json.dumps(document).replace(json.dumps(placeholder), literal)


def zone_document(**zone: object) -> dict:
    return {**ZONES_A, "zones": [{**ZONES_A["zones"][0], **zone}]}


@pytest.mark.parametrize("zone, problem", [
    ({"grace_s": 1e308}, "zone 'lane-a': grace_s: Input should be less than or equal to 604800"),
    ({"leave_s": 604801}, "zone 'lane-a': leave_s: Input should be less than or equal to 604800"),
    ({"name": "a\x00b"}, "zone 'lane-a': name: must not contain control characters"),
    ({"polygon": [[100, 400], [1200, 400], [1260, 700]] * 334}, "zone 'lane-a': polygon: List should have at most"),
])
def test_zone_documents_out_of_range_are_422_with_the_reason(world: World, zone: dict, problem: str) -> None:
    response = world.client.put("/api/cameras/camA/zones", json=zone_document(**zone), headers=world.as_("admin"))
    assert response.status_code == 422, response.text
    assert any(p.startswith(problem) for p in response.json()["detail"]["problems"]), response.text
    assert world.client.get("/api/cameras/camA/zones", headers=world.as_("admin")).status_code == 404


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 5000],
                         ids=["NaN", "Infinity", "-Infinity", "1e999", "5001 digits"])
def test_json_bodies_hold_only_json_numbers(world: World, literal: str) -> None:
    """Python's JSON parser takes NaN, Infinity and 1e999 (and fails on 5000 digits): each is invalid JSON, a 422,
    not a float that fails validation and then cannot be quoted back in the 422 (which was a 500)."""
    client, headers = world.client, {**world.as_("admin"), "Content-Type": "application/json"}
    for method, url, body in (("PUT", "/api/cameras/camA/zones", zone_document(leave_s="N")),
                              ("PATCH", "/api/cameras/camA", {"fps": "N"}),
                              ("POST", "/api/sites", {"code": "c", "name": "C", "clear_limit_s": "N"}),
                              ("POST", "/api/cameras", {"id": "camC", "site_id": "N", "name": "C", "source_url": "x"}),
                              ("PATCH", "/api/sites/1", {"unknown": "N"})):
        response = client.request(method, url, content=raw_json(body, "N", literal), headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["type"] == "json_invalid", url
    assert client.get("/api/cameras/camA/zones", headers=headers).status_code == 404


def test_huge_frame_sizes_are_refused_and_heat_maps_stay_small(world: World) -> None:
    client, op = world.client, world.as_("admin")
    huge = {**ZONES_A, "frame_size": [10**9, 10**9]}
    response = client.put("/api/cameras/camA/zones", json=huge, headers=op)
    assert response.status_code == 422
    assert "file: frame_size.0: Input should be less than or equal to 16384" in response.json()["detail"]["problems"]
    largest = {**ZONES_A, "frame_size": [16384, 9216],
               "zones": [{**ZONES_A["zones"][0], "polygon": [[x * 12.8, y * 12.8] for x, y in
                                                             ZONES_A["zones"][0]["polygon"]]}]}
    assert client.put("/api/cameras/camA/zones", json=largest, headers=op).status_code == 200
    png = client.get("/api/cameras/camA/heatmap.png?days=400", headers=op)
    assert png.status_code == 200
    assert cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_COLOR).shape == (1080, 1920, 3)
    with sessions(world.app).begin() as session:  # a document saved before frame sizes were bounded
        session.get_one(ZoneVersion, 1).document = huge
    png = client.get("/api/cameras/camA/heatmap.png?days=400", headers=op)
    assert cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_COLOR).shape == (1920, 1920, 3)


def test_dates_and_weeks_outside_1970_to_2999_are_422(world: World) -> None:
    client, police = world.client, world.as_("police")
    for url in ("/api/hotspots?since=0001-01-01", "/api/hotspots?until=9999-12-31",
                "/api/hotspots?since=0001-01-01T00:00:00%2B14:00", f"/api/sites/{world.site_a}/ledger?until=9999-12-31",
                "/api/offenders?until=9999-12-31", "/api/cameras/camA/heatmap.png?since=1969-12-31"):
        response = client.get(url, headers=police)
        assert response.status_code == 422 and "between 1970 and 2999" in response.text, url
    for week in ("9999-W52", "0001-W01"):
        response = client.post("/api/reports/weekly", json={"week": week}, headers=police)
        assert response.status_code == 422 and "between 1970 and 2999" in response.text, week
    assert client.get("/api/hotspots?since=2026-11-01&until=2026-11-08", headers=police).status_code == 200


def test_camera_and_site_numbers_are_in_range(world: World) -> None:
    client, op = world.client, world.as_("admin")
    for body in ({"fps": 0}, {"fps": 61}, {"fps": 1e308}, {"imgsz": 8192}, {"imgsz": 32}, {"frame_width": 10**9}):
        assert client.patch("/api/cameras/camA", json=body, headers=op).status_code == 422, body
    for limit in (1e308, 59, 7 * 86400 + 1):
        response = client.patch(f"/api/sites/{world.site_a}", json={"clear_limit_s": limit}, headers=op)
        assert response.status_code == 422, limit
    assert client.get("/api/stats/timeline?hours=nan", headers=op).status_code == 422
    assert client.get("/api/stats/timeline?hours=inf", headers=op).status_code == 422
    assert client.patch("/api/cameras/camA", json={"fps": 60, "imgsz": 4096}, headers=op).status_code == 200
