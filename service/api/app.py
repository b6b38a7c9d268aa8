"""The FastAPI application: ``create_app(settings)`` migrates the database and wires the routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from detector.sources import SourceError
from service.api.bootstrap import ensure_first_operator
from service.api.docs import install_docs
from service.api.limits import BodySizeLimit
from service.api.messages import error_body
from service.api.routes import alerts, auth, cameras, live, meta, overview, sites, ui, users, violations
from service.api.routes import closed_loop, closed_loop_ui  # ledger, hotspots, offenders, weekly reports
from service.db.errors import ConflictError, InvalidError, NotFoundError
from service.db.session import make_engine, session_factory, upgrade
from service.evidence_store import EvidenceStoreError, evidence_store
from service.settings import Settings, get_settings
from service.signing import ManifestSigner
from zones.config import ZoneFileError

log = logging.getLogger(__name__)

def _version() -> str:
    try:
        return version("firelane")
    except PackageNotFoundError:
        return "0+unknown"


async def security_headers(request: Request, call_next):  # noqa: ANN201 - Starlette's middleware signature
    """Every response: no MIME sniffing, no framing, no referrer to other sites; API answers, evidence and pages
    (personal data, plates, faces) are not stored by browsers or proxies; static assets set their own policy."""
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _install_error_handlers(app: FastAPI) -> None:
    """Every refusal keeps its English ``detail`` and carries ``detail_zh`` (service.api.messages) for the pages."""

    def refuse(detail: Any, status_code: int, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(error_body(detail), status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return refuse(error.detail, error.status_code, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return refuse(jsonable_encoder(error.errors()), status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, error: NotFoundError) -> JSONResponse:
        return refuse(str(error), status.HTTP_404_NOT_FOUND)

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, error: ConflictError) -> JSONResponse:
        return refuse(str(error), status.HTTP_409_CONFLICT)

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, error: IntegrityError) -> JSONResponse:
        # A race the checks before it could not see (two saves at once): nothing was stored.
        return refuse("conflicts with stored data (changed concurrently?); nothing saved", status.HTTP_409_CONFLICT)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(_: Request, error: Exception) -> JSONResponse:
        # The database is unreachable for now (cameras keep their violations in the spool meanwhile).
        log.warning("database unavailable: %s", str(error).splitlines()[0][:200])
        return refuse("database unavailable; try again shortly", status.HTTP_503_SERVICE_UNAVAILABLE,
                      {"Retry-After": "5"})

    @app.exception_handler(EvidenceStoreError)
    async def object_storage_unavailable(_: Request, error: EvidenceStoreError) -> JSONResponse:
        # The shared object store refused or did not answer (what every API process reads reports and evidence from).
        log.warning("object storage unavailable: %s", str(error)[:200])
        return refuse("object storage unavailable; try again shortly", status.HTTP_503_SERVICE_UNAVAILABLE,
                      {"Retry-After": "5"})

    @app.exception_handler(InvalidError)
    async def invalid(_: Request, error: InvalidError) -> JSONResponse:
        return refuse({"problems": error.problems}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(SourceError)
    async def source_unusable(_: Request, error: SourceError) -> JSONResponse:
        # the camera's source gave no picture: the operator fixes the URL (or the camera), nothing was stored
        return refuse({"problems": [str(error)]}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(ZoneFileError)
    async def zone_file(_: Request, error: ZoneFileError) -> JSONResponse:
        return refuse({"problems": error.problems}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def create_app(settings: Settings | None = None, background: bool = False) -> FastAPI:
    """The service on ``settings``' database (migrated to the newest revision) and evidence folder.

    ``background`` also runs the camera workers and alert delivery (``firelane serve``); tests leave it off.
    """
    settings = settings or get_settings()
    engine = make_engine(settings.database_url_for(settings.out_dir))
    upgrade(engine)
    sessions = session_factory(engine)
    ensure_first_operator(sessions, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = None
        if background:
            from service.background import BackgroundServices

            services = BackgroundServices(settings, engine, sessions)
            app.state.supervisor = services.supervisor
            services.start()
        try:
            yield
        finally:
            if services is not None:
                services.stop()
            engine.dispose()

    app = FastAPI(
        title="firelane",
        version=_version(),
        summary="Fire-lane violations for operators, property staff and traffic police.",
        docs_url=None,  # served by service.api.docs with local assets (no CDN)
        redoc_url=None,  # ReDoc only comes from a CDN
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.supervisor = None
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.secret_key = settings.resolved_secret_key()
    app.state.signer = ManifestSigner.load_or_create(settings.signing_key_path)  # the key camera workers sign with
    app.state.evidence_store = evidence_store(settings)  # local folder or object storage, as the cameras write
    app.add_middleware(BodySizeLimit, limit=settings.max_upload_bytes)
    app.middleware("http")(security_headers)
    _install_error_handlers(app)
    install_docs(app)
    for module in (meta, auth, sites, cameras, users, violations, alerts, live, overview, ui):
        app.include_router(module.router)
    for module in (closed_loop, closed_loop_ui):
        app.include_router(module.router)
    return app
