"""The web UI's polish that needs no browser: /docs without a CDN, durations and names for people, the alert
state that follows the vehicle, the pages' navigation per role."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings

SECRET = "ui-polish-secret-" + "x" * 32


def test_docs_load_only_local_assets(tmp_path: Path) -> None:
    """/docs names no other host, and every script, style and icon it names is served here."""
    settings = Settings(_env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'f.db'}",
                        evidence_dir=tmp_path / "evidence", secret_key=SECRET, admin_password="admin-password-1")
    app = create_app(settings)
    try:
        client = TestClient(app)
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert not [u for u in urls if re.match(r"^(https?:)?//", u)], urls
        assets = [u for u in urls if u.startswith("/docs/assets/")]
        assert {u.rsplit("/", 1)[1] for u in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
        for url in assets + ["/openapi.json", "/docs/oauth2-redirect"]:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.content, url
        assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
        assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered
    finally:
        app.state.engine.dispose()
