"""Every refusal the API can give has a Chinese message.

The messages are found in the code, not copied here: every string (or f-string, its fields filled with samples)
raised as an error, appended to a list of problems, returned by a ``*_problem(s)`` function or sent as a
``detail`` (or the ``message`` heading its problems) in every module of the API and the repository modules its
routes import; every pydantic error their request bodies and the zone file can produce, by feeding each field a
battery of wrong values; every fault the evidence check can report, by making each one happen; and the refusals
of the API itself, by asking for them.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
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
from service.api.schemas import Input
from service.evidence import MANIFEST, SIGNATURE
from service.evidence_store import LocalEvidenceStore
from service.settings import Settings
from service.signing import ManifestSigner
from service.verify import check_evidence
from sealed import seal
from zones.config import CameraZonesSpec, ZoneSpec

REPO = Path(__file__).resolve().parents[1]
API_MODULES = sorted(str(p.relative_to(REPO)) for p in (REPO / "service/api").rglob("*.py"))
# What the repository modules raise that is no refusal: invariants of the code (a bug when broken, a 500).
NOT_REFUSALS = {"service/db/models.py", "service/db/session.py", "service/db/errors.py"}


def _imported_db_modules() -> list[str]:
    """The repository modules (service.db.*) the API imports: what they raise reaches the pages."""
    found = set()
    for module in API_MODULES:
        for node in ast.walk(ast.parse((REPO / module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "service.db":
                found |= {f"service/db/{alias.name}.py" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service.db."):
                found.add(node.module.replace(".", "/") + ".py")
    return sorted(m for m in found if (REPO / m).is_file() and m not in NOT_REFUSALS)


DB_MODULES = _imported_db_modules()
MODULES = [*API_MODULES, *DB_MODULES, "service/camera/snapshot.py", "detector/sources.py", "zones/config.py",
           "zones/calibration.py", "zones/schedule.py"]
ERRORS = {"InvalidError", "ConflictError", "NotFoundError", "ValueError", "SourceError", "HTTPException",
          "_unauthorized", "ZoneFileError", "refuse", "_refuse"}
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
            nodes += [v for k, v in zip(node.keys, node.values)
                      if isinstance(k, ast.Constant) and k.value in ("detail", "message")]
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
    assert len(CODE_MESSAGES) > 90
    assert {"service/db/alerts.py", "service/db/reviews.py", "service/db/sites.py"} <= set(DB_MODULES)
    assert "service/api/routes/closed_loop.py" in MODULES and "service/api/limits.py" in MODULES
    assert "alert 3 is 3; cannot become 3" in texts  # a 409 of the alerts page
    assert "evidence failed its integrity check; not exported" in texts  # the message heading an export's 409
    assert "request body larger than 3 bytes" in texts  # answered before the app's handlers
    assert "wrong username or password" in texts
    assert "a site with code 'x' exists" in texts
    assert "zone 'lane-1': polygon needs at least 3 points, got 3" in texts
    assert "password is too common or too simple" in texts
    assert "a plate is 5-12 Chinese characters, letters and digits, e.g. 粤B12345" in texts


@pytest.mark.parametrize(("message", "where"), CODE_MESSAGES, ids=[w for _, w in CODE_MESSAGES])
def test_every_message_in_the_code_has_chinese(message: str, where: str) -> None:
    chinese = messages.translate(message)
    assert chinese, f"{where}: no Chinese for {message!r}"
    assert re.search(r"[\u4e00-\u9fff]", chinese), chinese


def _api_routes() -> list[APIRoute]:
    """The routes of every module of service.api.routes."""
    import service.api.routes as package

    modules = [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    return [r for module in modules for r in module.router.routes if isinstance(r, APIRoute)]


def _request_models() -> list[type[BaseModel]]:
    """The JSON bodies the API's endpoints take, read from its routes."""
    found = []
    for route in _api_routes():
        if route.body_field is not None:
            annotation = route.body_field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, Input) and annotation not in found:
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
    assert {"SiteCreate", "SiteUpdate", "CameraCreate", "CameraUpdate", "UserCreate", "UserUpdate", "ReviewIn",
            "SourceProbe", "WeeklyReportIn"} <= names


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


def _chinese(text: str | None) -> bool:
    return bool(text) and messages.FALLBACK not in text and re.search(r"[\u4e00-\u9fff]", text) is not None


def test_every_fault_of_the_evidence_check_has_chinese(tmp_path: Path) -> None:
    """The faults the review page and a refused export list, each made to happen on a real evidence folder."""
    key = tmp_path / "signing_key.pem"
    store = LocalEvidenceStore(tmp_path / "evidence")
    public_key = ManifestSigner.load_or_create(key).public_key

    def folder(name: str) -> Path:
        path = tmp_path / "evidence" / name
        path.mkdir(parents=True)
        for still in ("01-begin.jpg", "02-grace.jpg", "crop.jpg"):
            (path / still).write_bytes(b"\xff\xd8" + still.encode())
        seal(path, name, key)
        return path

    faults: list[str] = []
    altered = folder("altered")
    (altered / "01-begin.jpg").write_bytes(b"changed")
    (altered / "02-grace.jpg").unlink()
    (altered / "crop.jpg").unlink()
    (altered / "crop.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    (tmp_path / "elsewhere.jpg").write_bytes(b"x")
    faults += check_evidence(store, "altered", public_key).problems
    unsigned = folder("unsigned")
    (unsigned / SIGNATURE).unlink()
    faults += check_evidence(store, "unsigned", public_key).problems
    other_key = folder("other-key")
    (other_key / SIGNATURE).write_bytes(ManifestSigner.load_or_create(tmp_path / "other.pem").signature(
        (other_key / MANIFEST).read_bytes()))
    faults += check_evidence(store, "other-key", public_key).problems
    forged = folder("forged")
    (forged / MANIFEST).write_bytes((forged / MANIFEST).read_bytes().replace(b'"forged"', b'"forgery"'))
    faults += check_evidence(store, "forged", public_key).problems
    for name, signature in (("unreadable", b"not json"), ("algorithm", None)):
        path = folder(name)
        document = json.loads((path / SIGNATURE).read_bytes())
        (path / SIGNATURE).write_bytes(signature or json.dumps({**document, "algorithm": "RSA"}).encode())
        faults += check_evidence(store, name, public_key).problems
    incomplete = folder("incomplete")
    (incomplete / MANIFEST).unlink()
    faults += check_evidence(store, "incomplete", public_key).problems
    broken = folder("broken")
    (broken / MANIFEST).write_bytes(b"{")
    faults += check_evidence(store, "broken", public_key).problems
    (tmp_path / "evidence" / "empty").mkdir()
    faults += check_evidence(store, "empty", public_key).problems

    kinds = ["altered (SHA-256 differs)", ": missing", "replaced by a link", "not signed", "another key",
             "does not match", "unreadable", "algorithm", "incomplete", "manifest.json or its files",
             "manifest.json missing"]
    assert all(any(kind in fault for fault in faults) for kind in kinds), faults  # every kind was made
    for fault in [*faults, "evidence folder missing"]:
        assert _chinese(messages.translate(fault)), fault


@pytest.fixture
def small_client(tmp_path: Path) -> TestClient:
    settings = Settings(_env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        evidence_dir=tmp_path / "evidence", secret_key="s" * 40, admin_password="admin-password-1",
                        max_upload_bytes=2048)
    return TestClient(create_app(settings))


def test_refusals_of_every_kind_come_with_chinese(small_client: TestClient) -> None:
    """Refusals from the routes, the dependencies, the size limit (answered before the app) and Starlette itself."""
    client = small_client
    wrong = client.post("/api/auth/token", data={"username": "admin", "password": "wrong-password"})
    assert wrong.status_code == 401 and wrong.json()["detail_zh"] == ["用户名或密码错误"]
    token = client.post("/api/auth/token", data={"username": "admin", "password": "admin-password-1"}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    refusals = {
        "unknown address": client.get("/api/nothing-here", headers=auth),
        "method": client.delete("/api/evidence/public-key", headers=auth),
        "no alert": client.post("/api/alerts/999/ack", headers=auth),
        "no violation's evidence": client.get("/api/violations/nope/evidence/crop.jpg", headers=auth),
        "not a date": client.get("/api/hotspots", params={"since": "yesterday"}, headers=auth),
        "out of range": client.get("/api/hotspots", params={"since": "1900-01-01"}, headers=auth),
        "order": client.get("/api/hotspots", params={"since": "2026-11-08", "until": "2026-11-01"}, headers=auth),
        "too long": client.get("/api/hotspots", params={"since": "2020-01-01", "until": "2026-11-01"}, headers=auth),
        "no such week": client.post("/api/reports/weekly", json={"week": "2026-W60"}, headers=auth),
        "not a week": client.post("/api/reports/weekly", json={"week": "soon"}, headers=auth),
        "no report": client.get("/api/reports/2026-W45/district.pdf", headers=auth),
        "query": client.get("/api/offenders", params={"min_count": 0}, headers=auth),
        "too large": client.post("/api/sites", json={"code": "big", "name": "x", "address": "x" * 4000},
                                 headers=auth),
    }
    for what, response in refusals.items():
        assert response.status_code >= 400, what
        body = response.json()
        assert body["detail_zh"] and all(_chinese(text) for text in body["detail_zh"]), (what, body)
    assert refusals["too large"].status_code == 413
    assert refusals["too large"].json()["detail_zh"] == ["请求内容超过 2048 字节"]
    assert refusals["no such week"].json()["detail_zh"] == ["周次：2026 年没有第 60 周（ISO 周）"]
    assert refusals["order"].json()["detail_zh"] == ["起始：必须早于截止时间"]
