"""All configuration in one pydantic-settings object: FIRELANE_* environment variables or a .env file."""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from detector.classes import DEFAULT_OBSTACLES, DEFAULT_VEHICLES, ClassMap

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MIN_SECRET_KEY_LENGTH = 32
log = logging.getLogger(__name__)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIRELANE_", env_file=".env", extra="ignore")

    out_dir: Path = Path("firelane-out")
    database_url: str | None = Field(None, description="default: a SQLite file in the output folder")
    models_dir: Path | None = Field(None, description="extra folder searched for weights after the project's models/")
    model: str | None = Field(None, description="weights path or name, or 'ssd-coco'; default: resolved")
    imgsz: int = Field(1280, ge=64, le=4096, description="largest inference size chosen automatically: a camera runs "
                       "at its frames' native size, or less where its zones allow (detector.sizing), unless its zone "
                       "file sets imgsz, which may enlarge frames")
    conf: float = Field(0.25, gt=0, lt=1)
    fps: float = Field(2.0, gt=0, le=60, description="frames sampled per second of video")
    allow_download: bool = True
    export_openvino: bool = True
    signing_key_file: Path | None = Field(None, description="Ed25519 key that signs evidence manifests (shared by "
                                          "every process of an installation); default <out_dir>/signing_key.pem")
    spool_dir: Path | None = Field(None, description="durable local spool of violations and camera checkpoints "
                                   "waiting for the database; default <out_dir>/spool")
    clip_pre_s: float = Field(8.0, ge=0)
    clip_post_s: float = Field(8.0, ge=0)
    font: Path | None = None
    vehicle_classes: list[str] = list(DEFAULT_VEHICLES)
    read_plates: bool = Field(True, description="read the plates of vehicles in violation (detector.plates)")
    plate_min_confidence: float = Field(0.3, ge=0, le=1, description="readings less sure than this are not reported")
    plate_every_s: float = Field(10.0, gt=0, description="capture time between plate readings of one violation")
    plate_max_readings: int = Field(6, ge=1, le=1000, description="plate readings per violation at most (cost bound)")
    obstacle_classes: list[str] = list(DEFAULT_OBSTACLES)

    # cluster mode (service.cluster): camera pipelines as Ray actors over many machines
    ray_address: str | None = Field(None, description="a Ray cluster's head (host:port): cameras then run as Ray "
                                    "actors over its nodes, against PostgreSQL; default: one process, as always")
    node_dir: Path | None = Field(None, description="cluster mode: each node's own folder for its cameras' spools, "
                                  "read on the node (the environment `ray start` ran with); default "
                                  "/var/tmp/firelane-node")
    ray_cameras_per_actor: int = Field(8, ge=1, le=64, description="cluster mode: cameras one actor runs as threads "
                                       "of one process (the interpreter and libraries paid once); 1: a process each")
    detector_batch: int = Field(8, ge=1, le=256, description="cluster mode: most frames a node's detector runs at once")
    detector_batch_wait_ms: float = Field(50.0, ge=0, le=2000, description="... and longest a frame waits for more")

    # the web service (firelane serve)
    secret_key: SecretStr | None = Field(
        None, description="signs tokens and session cookies; default: kept in <out_dir>/secret_key (created 0600)"
    )
    evidence_dir: Path | None = Field(None, description="evidence root; default <out_dir>/evidence, as firelane run")
    # shared evidence (service.evidence_store): object storage every process of a cluster reads and writes
    evidence_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
                                     description="s3://bucket/prefix: evidence in S3-compatible object storage "
                                     "instead of evidence_dir")
    s3_endpoint_url: str | None = Field(None, description="object storage other than AWS (MinIO, SeaweedFS, Ceph)")
    s3_region: str | None = Field(None, description="default: boto3's (AWS_REGION, ~/.aws/config)")
    s3_access_key_id: str | None = Field(None, description="default: boto3's (AWS_ACCESS_KEY_ID, ~/.aws, a role)")
    s3_secret_access_key: SecretStr | None = None
    run_cameras: bool = Field(True, description="firelane serve runs the enabled cameras; off for API-only "
                              "processes behind a load balancer (serve --no-cameras)")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    admin_username: str = Field("admin", min_length=1, max_length=64, description="first operator, made once")
    admin_password: SecretStr | None = Field(None, description="default: random, printed once to the log")
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="larger request bodies get 413")
    token_ttl_s: int = Field(8 * 3600, gt=0, description="lifetime of bearer tokens and session cookies")
    cookie_secure: bool = Field(False, description="mark the session cookie Secure (set when served over HTTPS)")
    trusted_proxies: str = Field(
        "", max_length=1024,
        description="comma-separated addresses/networks of reverse proxies whose X-Forwarded-Proto/-For are believed "
                    "(HTTPS ends there: cookies become Secure, throttling counts the real client); empty: none")

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"secret_key must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return value

    @property
    def models_dirs(self) -> list[Path]:
        dirs = [PROJECT_ROOT / "models"]
        if self.models_dir:
            dirs.append(self.models_dir.expanduser())
        return dirs

    def class_map(self) -> ClassMap:
        default = ClassMap()
        vehicles, obstacles = frozenset(self.vehicle_classes), frozenset(self.obstacle_classes)
        return ClassMap(vehicles, obstacles, default.known - vehicles - obstacles)

    def database_url_for(self, out_dir: Path) -> str:
        return self.database_url or f"sqlite:///{(out_dir / 'firelane.db').resolve()}"

    @property
    def signing_key_path(self) -> Path:
        return (self.signing_key_file or self.out_dir / "signing_key.pem").expanduser()

    @property
    def spool_root(self) -> Path:
        return (self.spool_dir or self.out_dir / "spool").expanduser()

    @property
    def evidence_root(self) -> Path:
        return (self.evidence_dir or self.out_dir / "evidence").expanduser()

    def resolved_secret_key(self) -> str:
        """``secret_key``, else the key kept in ``<out_dir>/secret_key`` (made once, owner-only), so
        sessions and tokens survive restarts."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.out_dir.expanduser() / "secret_key"
        for _ in range(2):
            try:
                key = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                pass
            else:
                if len(key) < MIN_SECRET_KEY_LENGTH:
                    raise ValueError(f"{path}: the secret key in it is shorter than {MIN_SECRET_KEY_LENGTH} characters")
                if path.stat().st_mode & 0o077:
                    log.warning("%s is readable by other users; chmod 600 it", path)
                return key
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(key + "\n")
            log.info("created a new secret key in %s", path)
            return key
        raise RuntimeError(f"{path}: could not read or create the secret key")

    snapshot_timeout_s: float = Field(10.0, gt=0, le=60, description="a camera's picture on demand (test connection, "
                                      "snapshot): a source that gives no frame in this time is refused")

    # alert delivery (service.alerts): a channel is on when its URL / host is set
    webhook_url: str | None = Field(None, description="POST each new violation here (signed, see service.alerts.webhook)")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for X-Firelane-Signature; required with webhook_url")
    mqtt_host: str | None = Field(None, description="publish violations and zone states to this broker")
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    outbox_max_attempts: int = Field(12, ge=1, description="failed deliveries after which a message is dead-lettered")
    # Each channel has its own dispatcher thread: these bound what one message can cost its own channel.
    webhook_connect_timeout_s: float = Field(3.0, gt=0, description="connecting to the webhook receiver")
    webhook_read_timeout_s: float = Field(5.0, gt=0, description="longest silence while awaiting the receiver's answer")
    webhook_write_timeout_s: float = Field(5.0, gt=0, description="longest stall while sending a request")
    webhook_pool_timeout_s: float = Field(5.0, gt=0, description="longest wait for a free pooled connection")
    webhook_deadline_s: float = Field(10.0, gt=0, le=120,  # well inside the 300 s SQLite claim lease
                                      description="a whole request, however the receiver trickles")
    mqtt_connect_timeout_s: float = Field(5.0, gt=0, description="an outbox publish waits this long for the broker")
    mqtt_ack_timeout_s: float = Field(5.0, gt=0, description="... and this long for its PUBACK")
    zone_state_relay_s: float = Field(1.0, gt=0, le=60, description="how often the leader reads the shared camera "
                                      "status to relay the zone states of cameras run elsewhere (Ray) to MQTT")
    zone_state_sweep_s: float = Field(30.0, gt=0, le=3600, description="how often the leader clears the retained "
                                      "MQTT states of zones that no longer exist (deleted zone or camera, moved "
                                      "camera)")

    # closing the loop (service.closed_loop): escalation, repeat offenders, hotspots, weekly reports
    escalation_interval_s: float = Field(30.0, gt=0, description="how often firelane serve escalates overdue alerts")
    repeat_offender_min: int = Field(3, ge=1, description="confirmed violations that make a plate a repeat offender")
    repeat_offender_window_days: int = Field(30, ge=1, le=3650, description="... within this many days")
    rebound_window_days: float = Field(7.0, gt=0, description="a new violation in a zone this soon after one ended")
    reports_enabled: bool = Field(True, description="firelane serve writes the weekly reports on schedule")
    report_weekday: int = Field(4, ge=0, le=6, description="weekday of the scheduled report: 0 Monday .. 4 Friday")
    report_time: str = Field("18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, in report_timezone")
    report_timezone: str = Field("Asia/Shanghai", description="weeks, days and report times are in this zone")

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @property
    def reports_dir(self) -> Path:
        return self.out_dir.expanduser() / "reports"


@lru_cache
def get_settings() -> Settings:
    return Settings()
