"""A real local Ray cluster for the ``cluster`` tests: a head and two more nodes, each its own ``ray start`` in its
own process group, on loopback addresses of their own (127.0.0.2, .3, .4; never 127.0.0.1, where other local
services live), each with one CPU, its own temp dir and its own node-local firelane folder.

Nodes are stopped by killing the process groups started here (``ray stop`` would also stop any other cluster on
the machine), with bounded waits. A node can be killed mid-test as a power cut would (``kill``).

In a test module::

    pytest_plugins = ["faultkit", "raycluster"]

    @pytest.mark.cluster
    def test_x(ray_cluster): ...
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from faultkit import REPO, wait_until

HEAD_IP = "127.0.0.2"
WORKER_IPS = {"node_b": "127.0.0.3", "node_c": "127.0.0.4"}
START_TIMEOUT_S = 180.0  # a first `ray start` on a loaded 2-core machine is slow
# A killed node is declared dead after a few missed health checks (default: 5 of every 3 s); quicker here.
RAY_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "4",
           "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class RayNode:
    name: str
    ip: str
    temp_dir: Path
    node_dir: Path  # FIRELANE_NODE_DIR: the node's own spool folder
    log_path: Path
    pgid: int | None = None
    node_id: str | None = None

    @property
    def spool_root(self) -> Path:
        return self.node_dir / "spool"

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 15.0) -> None:
        """Signal every process of the node (raylet, workers, the head's GCS) and wait until none is left."""
        if self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pgid, 0)
            except ProcessLookupError:
                self.pgid = None
                return
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.pgid = None


@dataclass
class RayCluster:
    root: Path
    port: int
    head: RayNode
    workers: dict[str, RayNode] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{self.port}"

    @property
    def nodes(self) -> list[RayNode]:
        return [self.head, *self.workers.values()]

    def node_by_id(self, node_id: str) -> RayNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def env(self, node: RayNode) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIRELANE_", "RAY_"))}
        pythonpath = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        return {**env, **RAY_ENV, "PYTHONPATH": os.pathsep.join(pythonpath), "FIRELANE_NODE_DIR": str(node.node_dir)}

    def _ray_start(self, node: RayNode, args: list[str]) -> None:
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
        assert ray, "the ray command is not installed (pip install -e '.[cluster]')"
        command = [ray, "start", f"--node-ip-address={node.ip}", "--num-cpus=1", f"--temp-dir={node.temp_dir}",
                   "--object-store-memory=100000000", "--disable-usage-stats", *args]
        with open(node.log_path, "ab") as log_file:
            proc = subprocess.Popen(command, env=self.env(node), cwd=self.root, stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        node.pgid = proc.pid  # its daemons stay in this group after `ray start` itself returns
        try:
            code = proc.wait(START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            raise RuntimeError(f"ray start of {node.name} failed ({code}):\n{node.log_path.read_text()[-3000:]}")

    def start(self) -> None:
        self._ray_start(self.head, ["--head", f"--port={self.port}", "--include-dashboard=false"])
        for name, node in self.workers.items():
            self._ray_start(node, [f"--address={self.address}", f"--resources={json.dumps({name: 1})}"])
        found = wait_until(self._alive_nodes_by_ip, 60, interval=1.0, what="three alive Ray nodes")
        for node in self.nodes:
            node.node_id = found[node.ip]

    def _alive_nodes_by_ip(self) -> dict[str, str] | None:
        found = {n["NodeManagerAddress"]: n["NodeID"] for n in self.connect().nodes() if n["Alive"]}
        return found if all(n.ip in found for n in self.nodes) else None

    def connect(self):
        """Make this test process a driver of the cluster (through the head's raylet); returns the ray module."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, namespace="firelane", logging_level="WARNING", log_to_driver=False,
                     _node_ip_address=HEAD_IP)
        return ray

    def firelane_log(self, lines: int | None = None) -> str:
        """What firelane's actors logged on every node (Ray keeps each worker's output in its temp dir)."""
        found = []
        for path in sorted(self.root.glob("*/session_2*/logs/worker-*.err")):  # not session_latest, a link
            found += [f"{path.parts[len(self.root.parts)]}: {line}" for line in
                      path.read_text(errors="replace").splitlines() if "firelane" in line or "Error:" in line]
        return "\n".join(found[-lines:] if lines else found)

    def stop(self) -> None:
        for node in reversed(self.nodes):  # workers first, the head (GCS) last
            node.kill(signal.SIGTERM, timeout=10)
            node.kill(signal.SIGKILL, timeout=10)


@contextlib.contextmanager
def ray_cluster_running() -> Iterator[RayCluster]:
    root = Path(tempfile.mkdtemp(prefix="flray-", dir="/tmp"))  # short: Ray's socket paths must stay < 108 bytes
    port = _free_port(HEAD_IP)

    def node(name: str, ip: str) -> RayNode:
        return RayNode(name, ip, root / name, root / f"{name}-firelane", root / f"{name}.log")

    cluster = RayCluster(root, port, node("head", HEAD_IP), {n: node(n, ip) for n, ip in WORKER_IPS.items()})
    try:
        cluster.start()
        yield cluster
    finally:
        print(f"--- raycluster: firelane in the actors' logs ---\n{cluster.firelane_log(80)}")
        cluster.stop()
        for log_path in sorted(root.glob("*.log")):
            print(f"--- raycluster: {log_path.name} (tail) ---\n{log_path.read_text(errors='replace')[-1500:]}")
        for _ in range(3):  # a process that was dying may still have written a log line there
            shutil.rmtree(root, ignore_errors=True)
            if not root.exists():
                break
            time.sleep(1.0)


@pytest.fixture
def ray_cluster() -> Iterator[RayCluster]:
    with ray_cluster_running() as cluster:
        try:
            yield cluster
        finally:
            if "ray" in sys.modules and sys.modules["ray"].is_initialized():
                sys.modules["ray"].shutdown()
