"""Every refusal the API can give for sites, cameras, users, zones and plates has a Chinese message.

The messages are found in the code, not copied here: every string (or f-string, its fields filled with samples)
raised as an error, appended to a list of problems, returned by a ``*_problem(s)`` function or sent as a
``detail`` in the modules behind those endpoints; and every pydantic error their request bodies and the zone file
can produce, by feeding each field a battery of wrong values.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from pydantic_core._pydantic_core import list_all_errors

from service.api import messages
from service.api.app import create_app
from service.settings import Settings
from zones.config import CameraZonesSpec, ZoneSpec

REPO = Path(__file__).resolve().parents[1]
# The modules behind the endpoints of sites, cameras (zones, snapshots), users and reviews (plates).
MODULES = [
    "service/api/schemas.py", "service/api/deps.py", "service/api/security.py", "service/api/app.py",
    "service/api/routes/sites.py", "service/api/routes/cameras.py", "service/api/routes/users.py",
    "service/api/routes/live.py", "service/api/routes/violations.py", "service/camera/snapshot.py",
    "detector/sources.py",
    "service/db/sites.py", "service/db/cameras.py", "service/db/users.py", "service/db/zones.py",
    "service/db/reviews.py", "zones/config.py", "zones/calibration.py", "zones/schedule.py",
]
ERRORS = {"InvalidError", "ConflictError", "NotFoundError", "ValueError", "SourceError", "HTTPException",
          "_unauthorized", "ZoneFileError"}
ENDPOINTS = re.compile(r"^/api/(sites|cameras|users|violations)\b")
WRONG_VALUES: list[Any] = [None, True, "x", "", " ", "\x00", "é" * 5000, -1, 0, 0.5, 10**10, 1e300, 10**5000, [],
                           {}, [1], [[1, 2]], [[1, 2], [3, 4], [5, 6]], "Asia/Nowhere", "1" * 70, {"a": 1}]


def _sample(node: ast.AST) -> str | None:
    """A string node as text; an f-string's fields filled with samples (a location named ``where``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(value.value)
        elif isinstance(value.value, ast.Name) and value.value.id == "where":
            parts.append("zone 'lane-1'")
        else:
            parts.append("'x'" if value.conversion == ord("r") else "3")
    return "".join(parts)


def _literal(node: ast.AST) -> str:
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return node.value if isinstance(node, ast.Constant) else ""


def _messages_in(path: Path) -> list[tuple[str, str]]:
    """(sample, where) for every message the module can raise or report."""
    nodes: list[ast.AST] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            reported = name == "append" and getattr(node.func.value, "id", None) == "problems"
            if name in ERRORS or reported:
                for arg in [*node.args, *(k.value for k in node.keywords if k.arg == "detail")]:
                    nodes += arg.elts if isinstance(arg, ast.List) else [arg]
        elif isinstance(node, ast.FunctionDef):
            if node.name.endswith(("_problem", "_problems")):
                for ret in (r for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None):
                    nodes += ret.value.elts if isinstance(ret.value, ast.List) else [ret.value]
            defaults = node.args.defaults
            for arg, default in zip(node.args.args[-len(defaults):] if defaults else [], defaults):
                if arg.arg == "detail":
                    nodes.append(default)
        elif isinstance(node, ast.Dict):
            nodes += [v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant) and k.value == "detail"]
    found = []
    for node in nodes:
        text = _sample(node)
        # "{where}: {field}: {msg}" passes on messages made elsewhere (pydantic's, the schedule's): tested there
        if text is not None and not re.fullmatch(r"\W*(\w+:\W*)*", _literal(node)):
            found.append((text, f"{path.relative_to(REPO)}:{node.lineno}"))
    return found


CODE_MESSAGES = [m for module in MODULES for m in _messages_in(REPO / module)]


def test_the_code_scan_finds_the_messages() -> None:
    """The scan sees what it should (so an empty scan cannot pass the next test)."""
    texts = {text for text, _ in CODE_MESSAGES}
    assert len(CODE_MESSAGES) > 60
    assert "a site with code 'x' exists" in texts
    assert "zone 'lane-1': polygon needs at least 3 points, got 3" in texts
    assert "password is too common or too simple" in texts
    assert "a plate is 5-12 Chinese characters, letters and digits, e.g. 粤B12345" in texts


@pytest.mark.parametrize(("message", "where"), CODE_MESSAGES, ids=[w for _, w in CODE_MESSAGES])
def test_every_message_in_the_code_has_chinese(message: str, where: str) -> None:
    chinese = messages.translate(message)
    assert chinese, f"{where}: no Chinese for {message!r}"
    assert re.search(r"[\u4e00-\u9fff]", chinese), chinese


def _request_models() -> list[type[BaseModel]]:
    """The bodies the endpoints of sites, cameras, users and reviews take, read from the app's routes."""
    from service.api.routes import cameras, sites, users, violations

    found = []
    for router in (sites.router, cameras.router, users.router, violations.router):
        for route in router.routes:
            if isinstance(route, APIRoute) and ENDPOINTS.match(route.path) and route.body_field is not None:
                annotation = route.body_field.field_info.annotation
                if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found:
                    found.append(annotation)
    return found


def _pydantic_errors(model: type[BaseModel]) -> list[dict[str, Any]]:
    errors = []
    attempts: list[Any] = ["not an object", {"unknown_field": 1}]
    attempts += [{name: value} for name in model.model_fields for value in WRONG_VALUES]
    for body in attempts:
        try:
            model.model_validate(body)
        except ValidationError as error:
            errors += error.errors()
    return errors


def test_request_models_are_found() -> None:
    names = {m.__name__ for m in _request_models()}
    assert {"SiteCreate", "SiteUpdate", "CameraCreate", "CameraUpdate", "UserCreate", "UserUpdate", "ReviewIn"} <= names


@pytest.mark.parametrize("model", [*_request_models(), ZoneSpec, CameraZonesSpec], ids=lambda m: m.__name__)
def test_every_pydantic_error_has_chinese(model: type[BaseModel]) -> None:
    errors = _pydantic_errors(model)
    kinds = {e["type"] for e in errors}
    assert "extra_forbidden" in kinds and len(kinds) > 3  # the battery reaches validation at all
    for error in errors:
        chinese = messages.translate_validation_error(error)
        assert chinese and messages.FALLBACK not in chinese, (model.__name__, error)
        # zone files report pydantic's errors as text ("zone 'a': grace_s: Input should be ...")
        where = ".".join(str(p) for p in error["loc"]) or "value"
        text = f"zone 'a': {where}: {error['msg'].removeprefix('Value error, ')}"
        assert messages.translate(text), (model.__name__, text)


def test_pydantic_mapping_names_real_types_with_their_context() -> None:
    examples = {e["type"]: e["example_context"] for e in list_all_errors()}
    for kind, chinese in messages.PYDANTIC.items():
        assert kind in examples, kind
        if kind not in ("value_error", "assertion_error"):
            chinese.format(**(examples[kind] or {}))


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(_env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        evidence_dir=tmp_path / "evidence", secret_key="s" * 40, admin_password="admin-password-1")
    return TestClient(create_app(settings))


def test_refusals_carry_chinese_next_to_english(client: TestClient) -> None:
    token = client.post("/api/auth/token", data={"username": "admin", "password": "admin-password-1"}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    bad_site = client.post("/api/sites", json={"code": "a b", "name": "", "clear_limit_s": 5}, headers=auth)
    assert bad_site.status_code == 422
    body = bad_site.json()
    assert len(body["detail_zh"]) == len(body["detail"]) == 3
    assert "编码：格式不对" in body["detail_zh"][0]
    assert "清理时限（秒）：不能小于 60" in body["detail_zh"]
    site = client.post("/api/sites", json={"code": "a", "name": "甲"}, headers=auth).json()
    duplicate = client.post("/api/sites", json={"code": "a", "name": "乙"}, headers=auth).json()
    assert duplicate == {"detail": "a site with code 'a' exists", "detail_zh": ["编码 'a' 已被其他小区使用"]}
    client.post("/api/cameras", json={"id": "c1", "site_id": site["id"], "name": "东门", "source_url": "x.mp4"},
                headers=auth)
    zones = {"camera_id": "c1", "frame_size": [640, 480],
             "zones": [{"id": "z", "polygon": [[0, 0], [10, 0]], "grace_s": -1}]}
    refused = client.put("/api/cameras/c1/zones", json=zones, headers=auth).json()
    assert refused["detail_zh"] == ["区域 'z'：允许停留（秒）：不能小于 0"]
    lane = [[34, 500], [926, 500], [818, 335], [142, 335]]
    bow_tie = {"corners": [lane[0], lane[2], lane[1], lane[3]], "width_m": 7.5, "length_m": 20}
    zones["zones"] = [{"id": "z", "polygon": lane, "ground": bow_tie}]
    zones["frame_size"] = [960, 540]
    refused = client.put("/api/cameras/c1/zones", json=zones, headers=auth).json()
    assert refused["detail_zh"] == ["区域 'z'：地面标定：角点没有按矩形的顺序排列：连线自相交（“蝴蝶结”）"]
    anonymous = client.get("/api/users").json()
    assert anonymous == {"detail": "not logged in", "detail_zh": ["未登录"]}
