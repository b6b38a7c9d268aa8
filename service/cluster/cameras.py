"""The cameras as an API process of a cluster sees them: it makes sure the cluster's supervisor runs and shows
what it reports. It runs no camera itself; any number of API processes can do this at once."""

from __future__ import annotations

import logging
import threading
from typing import Any

from service.camera.workers import CameraStatus
from service.cluster.actors import CALL_TIMEOUT_S, connect, ensure_supervisor, signer_pem
from service.cluster.config import check_cluster_settings
from service.settings import Settings
from service.signing import ManifestSigner

log = logging.getLogger(__name__)


class ClusterCameras:
    """Stands where ``WorkerSupervisor`` stands in one process (``run_forever``, ``status``, ``problems``)."""

    def __init__(self, settings: Settings):
        check_cluster_settings(settings)
        # folders as this process means them: an actor's working directory is its node's, not ours
        self.settings = settings.model_copy(update={
            "out_dir": settings.out_dir.expanduser().resolve(),
            "evidence_dir": settings.evidence_dir.expanduser().resolve() if settings.evidence_dir else None})
        self.problems: dict[str, str] = {}
        self.site_codes: dict[str, str] = {}
        self._statuses: dict[str, dict[str, Any]] = {}
        self._key_pem = signer_pem(ManifestSigner.load_or_create(settings.signing_key_path))

    def status(self, camera_id: str) -> CameraStatus | None:
        found = self._statuses.get(camera_id)
        if found is None or "state" not in found:
            return None
        return CameraStatus(camera_id, state=found["state"], frames=found.get("frames", 0),
                            last_frame_at=found.get("last_frame_at"), error=found.get("error"),
                            zone_version=found.get("zone_version"), objects=found.get("objects", []),
                            zones=found.get("zones", []))

    def node_of(self, camera_id: str) -> str | None:
        return self._statuses.get(camera_id, {}).get("node_id")

    def run_forever(self, stop: threading.Event, interval_s: float = 2.0) -> None:
        import ray

        assert self.settings.ray_address is not None
        trouble: str | None = None
        while not stop.is_set():
            try:
                connect(self.settings.ray_address)
                supervisor = ensure_supervisor(self.settings, self._key_pem)
                snapshot = ray.get(supervisor.snapshot.remote(), timeout=CALL_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - the cluster may be starting or failing over
                message = (str(error).splitlines() or [type(error).__name__])[0][:300]
                if message != trouble:
                    log.warning("Ray cluster at %s: %s (retrying; its cameras keep running)",
                                self.settings.ray_address, message)
                trouble = message
            else:
                if trouble is not None:
                    log.warning("Ray cluster at %s answers again", self.settings.ray_address)
                trouble = None
                self._statuses, self.problems = snapshot["statuses"], snapshot["problems"]
                self.site_codes = snapshot["site_codes"]
            stop.wait(interval_s)
