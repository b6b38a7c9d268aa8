"""Fault-injection kit for the real-server fault suites: a camera that can die, a database link that can be cut,
a webhook receiver that can hang or refuse, an MQTT listener, a tiny disk that fills up, and ``firelane serve``
in a subprocess that can be killed with SIGKILL.

Everything listens on 127.0.0.1 only, on a random free port, and has ``start()``/``stop()`` and ``with`` use.
``stop()`` really closes the listening socket and every open connection; ``start()`` again reuses the same port.

In a test module::

    pytest_plugins = ["faultkit"]          # registers the fixtures below (tests/ is on sys.path)
    from faultkit import MjpegServer, parked_scene_frames, register_camera

    @pytest.mark.faults
    def test_camera_outage(fault_kit, fresh_pg_url):
        camera = fault_kit.mjpeg(parked_scene_frames(), fps=5, noise=2)
        server = fault_kit.server({"FIRELANE_DATABASE_URL": fresh_pg_url})
        server.wait_ready()
        cam = register_camera(server, camera.url, grace_s=6, leave_s=20)
        camera.stop(); ...; camera.start()

Fixtures: ``fault_kit`` (a :class:`FaultKit`: its factories start things and its teardown stops them all, even
when the test fails, printing the servers' log tails) and ``fresh_pg_url`` (an empty PostgreSQL database per test,
dropped afterwards).

PYTEST_DONT_REWRITE: test modules import this module before pytest could rewrite its asserts; none are needed.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import itertools
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

log = logging.getLogger("faultkit")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DEMO_VIDEO = SAMPLES / "fire-lane-demo.webm"
DEMO_TRUTH = SAMPLES / "fire-lane-demo.truth.json"
DEMO_ZONES = SAMPLES / "fire-lane-demo.zones.json"
LOCALHOST = "127.0.0.1"
PG_ADMIN_URL = os.environ.get("FIRELANE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_BROKER = (os.environ.get("FIRELANE_TEST_MQTT_HOST", LOCALHOST), int(os.environ.get("FIRELANE_TEST_MQTT_PORT", "1883")))
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "faultkit-admin-password"

__all__ = [
    "ADMIN_PASSWORD", "ADMIN_USERNAME", "FaultKit", "MjpegServer", "MqttCollector", "MqttMessage", "Registration",
    "ServerProcess", "TcpProxy", "WebhookReceiver", "WebhookRequest", "demo_zone_document", "empty_scene_frame",
    "fill", "free_bytes", "free_port", "login", "new_pg_database", "parked_scene_frames", "pg_url_via",
    "refusing_port", "register_camera", "small_tmpfs", "wait_until",
]


def _skip_or_fail(reason: str) -> None:
    """Missing local services skip the test, except in CI (as tests/conftest.py does)."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    for _ in range(max(int(timeout / max(interval, 0.001)) * 4, 10) + 1):  # bounded; the deadline decides
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")


# --- ports -----------------------------------------------------------------------------------------------------


_RESERVED: list[socket.socket] = []  # bound, never listening: connecting to them is refused


def free_port() -> int:
    """A port free on 127.0.0.1 right now (released again: bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


def refusing_port() -> int:
    """A port on 127.0.0.1 that refuses connections for the rest of this test process.

    The port stays bound (but never listens), so no other program can take it while tests use it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOCALHOST, 0))
    _RESERVED.append(sock)
    return sock.getsockname()[1]


# --- a listener with tracked connections ------------------------------------------------------------------------


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Listener:
    """TCP listener on 127.0.0.1, one thread per connection. ``stop()`` closes the listening socket and shuts down
    every connection (the peer sees EOF); ``start()`` again listens on the same port (SO_REUSEADDR)."""

    kind = "listener"

    def __init__(self, port: int | None = None) -> None:
        self.host = LOCALHOST
        self.port = port
        self.connections_accepted = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._stopping.set()
        self._accept_thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> _Listener:
        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port or 0))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        stopping = threading.Event()
        with self._lock:
            self._listener, self._stopping = sock, stopping
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(sock, stopping), daemon=True,
                                               name=f"faultkit-{self.kind}-{self.port}-accept")
        self._accept_thread.start()
        self._started(stopping)
        return self

    def _started(self, stopping: threading.Event) -> None:
        """Hook: start helper threads (they must end when ``stopping`` is set)."""

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
            self._stopping.set()
            sockets, threads = list(self._sockets), list(self._threads)
        if sock is not None:
            sock.close()
        for conn in sockets:
            _shutdown(conn)
        deadline = time.monotonic() + timeout
        for thread in [self._accept_thread, *threads]:
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(deadline - time.monotonic(), 0.01))
        with self._lock:
            leftover = list(self._sockets)
            self._sockets.clear()
        for conn in leftover:
            with contextlib.suppress(OSError):
                conn.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, sock: socket.socket, stopping: threading.Event) -> bool:
        """Register a socket so ``stop()`` shuts it down; False (and closed) when stopping already."""
        with self._lock:
            if stopping.is_set():
                sock.close()
                return False
            self._sockets.add(sock)
            return True

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _accept_loop(self, sock: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._track(conn, stopping):
                break
            thread = threading.Thread(target=self._serve, args=(conn, stopping), daemon=True,
                                      name=f"faultkit-{self.kind}-{self.port}-conn")
            with self._lock:
                self.connections_accepted += 1
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: socket.socket, stopping: threading.Event) -> None:
        try:
            self.handle(conn, stopping)
        except OSError:
            pass  # the peer went away, or stop() shut the socket
        except Exception:
            log.exception("faultkit %s: connection handler failed", self.kind)
        finally:
            self._forget(conn)
            with self._lock:
                self._threads.discard(threading.current_thread())

    def handle(self, conn: socket.socket, stopping: threading.Event) -> None:
        raise NotImplementedError


# --- the camera: MJPEG over HTTP ---------------------------------------------------------------------------------


FrameSpec = Callable[[float], np.ndarray] | np.ndarray | Iterable[np.ndarray]


class _FrameFeed:
    """Turns a callable (seconds since the server was made → image), one image, a sequence (cycled) or an
    iterator (its last image repeats once it is exhausted) into ``next_image(t)``."""

    def __init__(self, frames: FrameSpec) -> None:
        self._fn: Callable[[float], np.ndarray] | None = None
        self._cycle: Iterator[np.ndarray] | None = None
        self._last: np.ndarray | None = None
        if isinstance(frames, np.ndarray):
            self._last = frames
        elif callable(frames):
            self._fn = frames
        elif isinstance(frames, Sequence):
            if not frames:
                raise ValueError("no frames to serve")
            self._cycle = itertools.cycle(frames)
        else:
            self._cycle = iter(frames)

    def next_image(self, t: float) -> np.ndarray:
        if self._fn is not None:
            return self._fn(t)
        if self._cycle is not None:
            try:
                self._last = next(self._cycle)
            except StopIteration:
                self._cycle = None
        if self._last is None:
            raise ValueError("the frame iterator yielded no image")
        return self._last


class MjpegServer(_Listener):
    """An IP camera: ``multipart/x-mixed-replace`` MJPEG at ``http://127.0.0.1:PORT/stream.mjpg``.

    ``frames``: a callable ``f(t)`` (t = seconds since this object was made; the scene's clock keeps running while
    the camera is stopped), one image, a list (cycled) or an iterator. ``noise`` > 0 adds fresh uniform noise of
    that amplitude to every frame so no two are byte-identical. ``stop()`` drops every viewer (they see EOF) and
    refuses new ones; ``start()`` serves again on the same port. ``freeze()`` keeps connections open but sends
    nothing (a hung camera: readers hit their read timeout); ``unfreeze()`` resumes.
    """

    kind = "mjpeg"
    boundary = "firelaneframe"
    path = "/stream.mjpg"

    def __init__(self, frames: FrameSpec, fps: float = 5.0, port: int | None = None, *, noise: int = 0,
                 quality: int = 85, seed: int | None = None) -> None:
        super().__init__(port)
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fps = fps
        self.noise = int(noise)
        self.quality = quality
        self.frames_produced = 0
        self.frames_sent = 0
        self._feed = _FrameFeed(frames)
        self._rng = np.random.default_rng(seed)
        self._t0 = time.monotonic()
        self._frozen = threading.Event()
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def set_frames(self, frames: FrameSpec) -> None:
        """Change the scene (e.g. the bus arrives) without dropping viewers."""
        self._feed = _FrameFeed(frames)

    def freeze(self) -> None:
        self._frozen.set()

    def unfreeze(self) -> None:
        self._frozen.clear()

    def _encode(self) -> bytes:
        image = self._feed.next_image(time.monotonic() - self._t0)
        if self.noise > 0:
            jitter = self._rng.integers(-self.noise, self.noise + 1, size=image.shape, dtype=np.int16)
            image = np.clip(image.astype(np.int16) + jitter, 0, 255).astype(np.uint8)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("cv2 could not encode the frame as JPEG")
        return data.tobytes()

    def _started(self, stopping: threading.Event) -> None:
        with self._cond:
            self._jpeg = self._encode()  # viewers get a frame at once
            self._seq += 1
            self.frames_produced += 1
        threading.Thread(target=self._produce, args=(stopping,), daemon=True,
                         name=f"faultkit-mjpeg-{self.port}-producer").start()

    def _produce(self, stopping: threading.Event) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic() + period
        while not stopping.wait(max(next_at - time.monotonic(), 0.0)):
            next_at = max(next_at + period, time.monotonic())
            if self._frozen.is_set():
                continue
            try:
                jpeg = self._encode()
            except Exception:
                log.exception("faultkit mjpeg: making a frame failed")
                continue
            with self._cond:
                self._jpeg, self._seq = jpeg, self._seq + 1
                self.frames_produced += 1
                self._cond.notify_all()

    def handle(self, conn: socket.socket, stopping: threading.Event) -> None:
        conn.settimeout(5.0)
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        conn.settimeout(10.0)  # a viewer that stops reading for 10 s is dropped
        target = request.split(b"\r\n", 1)[0].split(b" ")
        if len(target) < 2 or target[1].split(b"?", 1)[0].decode("latin-1") != self.path:
            conn.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nno such stream\n")
            return
        conn.sendall(
            f"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={self.boundary}\r\n"
            "Cache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        seen = 0
        while not stopping.is_set():
            with self._cond:
                if self._seq == seen:
                    self._cond.wait(0.5)
                if self._seq == seen or self._jpeg is None:
                    continue
                jpeg, seen = self._jpeg, self._seq
            head = f"--{self.boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            conn.sendall(head.encode("ascii") + jpeg + b"\r\n")
            self.frames_sent += 1


# --- the demo scene -----------------------------------------------------------------------------------------------


def _demo_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=8)
def _demo_frames(indices: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Decode the sample sequentially (seeking in WebM is not frame-exact) and keep the frames asked for."""
    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(DEMO_VIDEO))
    try:
        if not capture.isOpened():
            raise RuntimeError(f"{DEMO_VIDEO}: cannot open")
        for index in range(max(wanted) + 1):
            ok, image = capture.read()
            if not ok:
                raise RuntimeError(f"{DEMO_VIDEO}: ended at frame {index}, frame {max(wanted)} wanted")
            if index in wanted:
                image.setflags(write=False)  # shared by every caller
                found[index] = image
    finally:
        capture.release()
    return tuple(found[i] for i in indices)


def parked_scene_frames(count: int = 6, margin_s: float = 3.0) -> list[np.ndarray]:
    """``count`` frames of the demo sample, evenly spread over the time the bus stands parked in lane-1
    (truth: ``events[kind=parked]`` start_s..end_s, minus ``margin_s`` at both ends). 960×540 BGR, read-only."""
    truth = _demo_json(DEMO_TRUTH)
    event = next(e for e in truth["events"] if e["kind"] == "parked")
    fps = float(truth["fps"])
    first, last = event["start_s"] + margin_s, event["end_s"] - margin_s
    times = [first + (last - first) * i / max(count - 1, 1) for i in range(count)] if count > 1 else [(first + last) / 2]
    return list(_demo_frames(tuple(round(t * fps) for t in times)))


def empty_scene_frame() -> np.ndarray:
    """The same view with the lane empty: a frame halfway to the first vehicle's appearance."""
    truth = _demo_json(DEMO_TRUTH)
    first_seen = min([p["visible_s"][0] for p in truth.get("pass_through", [])]
                     + [e.get("in_zone_start_s", e["start_s"]) for e in truth["events"]])
    return _demo_frames((round(first_seen / 2 * float(truth["fps"])),))[0]


def demo_zone_document(camera_id: str | None = None, *, grace_s: float = 6, leave_s: float = 20,
                       zone_id: str = "lane-1") -> dict[str, Any]:
    """The demo zone file with only its fire-lane zone, short ``grace_s``/``leave_s``, for camera ``camera_id``."""
    document = _demo_json(DEMO_ZONES)
    zones = [z for z in document["zones"] if z["id"] == zone_id]
    if not zones:
        raise ValueError(f"{DEMO_ZONES}: no zone {zone_id!r}")
    zones[0].update(grace_s=grace_s, leave_s=leave_s)
    document["zones"] = zones
    if camera_id is not None:
        document["camera_id"] = camera_id
    return document


# --- TCP proxy -------------------------------------------------------------------------------------------------------


class TcpProxy(_Listener):
    """Forwards ``127.0.0.1:port`` ⇄ ``target`` both ways.

    ``cut()``: every connection closed and new ones refused (the database is unreachable); ``restore()``: accepts
    again on the same port. ``stall()``: connections stay open (and new ones are accepted) but no byte moves either
    way, like a network that silently drops packets; ``unstall()`` lets the bytes flow again.
    """

    kind = "proxy"

    def __init__(self, target_host: str, target_port: int, port: int | None = None,
                 connect_timeout: float = 5.0) -> None:
        super().__init__(port)
        self.target = (target_host, target_port)
        self.connect_timeout = connect_timeout
        self._stalled = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, int(self.port or 0)

    def cut(self) -> None:
        self.stop()

    def restore(self) -> None:
        self.start()

    def stall(self) -> None:
        self._stalled.set()

    def unstall(self) -> None:
        self._stalled.clear()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._threads)

    def handle(self, conn: socket.socket, stopping: threading.Event) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError as error:
            log.warning("faultkit proxy: %s:%d unreachable: %s", *self.target, error)
            return
        if not self._track(upstream, stopping):
            return
        try:
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pump(conn, upstream, stopping)
        finally:
            self._forget(upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket, stopping: threading.Event) -> None:
        client.setblocking(False)
        upstream.setblocking(False)
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            while not stopping.is_set():
                if self._stalled.is_set():
                    stopping.wait(0.05)
                    continue
                for key, _ in selector.select(0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return  # one side closed: close both (what a dying server or a reset looks like)
                    target = peer[key.fileobj]  # type: ignore[index]
                    target.setblocking(True)
                    target.settimeout(10.0)
                    try:
                        target.sendall(data)
                    finally:
                        target.setblocking(False)


def pg_url_via(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False)


# --- webhook receiver --------------------------------------------------------------------------------------------


@dataclass
class WebhookRequest:
    method: str
    path: str
    headers: dict[str, str]  # as received; use ``header(name)`` for case-insensitive lookup
    body: bytes
    received_at: float  # time.time()
    mode: str  # the receiver's mode when it arrived
    verified: bool | None = None  # signature valid (checked in every mode when the secret is set)
    status: int | None = None  # what the receiver answered; None: no answer (hang)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body)


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx uses it
    receiver: WebhookReceiver
    stopping: threading.Event

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _handle_any(self) -> None:
        from service.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

        receiver = self.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode = receiver.mode
        record = WebhookRequest(self.command, self.path, dict(self.headers.items()), body, time.time(), mode)
        if receiver.secret is not None:
            record.verified = verify_signature(receiver.secret, self.headers.get(TIMESTAMP_HEADER) or "", body,
                                               self.headers.get(SIGNATURE_HEADER))
        if mode == "hang":
            receiver._record(record)
            self.close_connection = True
            self.stopping.wait(receiver.hang_max_s)  # never answer (until stopped)
            return
        if mode == "error":
            status, reply = receiver.error_status, {"error": "receiver told to fail"}
        elif record.verified is False:
            status, reply = 401, {"error": "bad signature"}
        else:
            status, reply = 200, {"ok": True}
        record.status = status
        receiver._record(record)
        payload = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle_any


class WebhookReceiver(_Listener):
    """A property-management webhook endpoint at ``url`` that records every request.

    Modes (switch at run time with ``set_mode``): ``ok`` answers 200 when the signature verifies with
    ``service.alerts.webhook.verify_signature`` (401 otherwise); ``hang`` reads the request and never answers
    (until stopped); ``error`` answers ``error_status`` (503); ``refuse`` closes the listener, so connections are
    refused (any other mode listens again on the same port).
    """

    kind = "webhook"
    MODES = ("ok", "hang", "error", "refuse")

    def __init__(self, secret: str | None, mode: str = "ok", port: int | None = None, *,
                 path: str = "/hooks/firelane", hang_max_s: float = 600.0, error_status: int = 503) -> None:
        super().__init__(port)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}")
        self.secret = secret
        self.mode = mode
        self.path = path
        self.hang_max_s = hang_max_s
        self.error_status = error_status
        self.requests: list[WebhookRequest] = []
        self._cond = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> WebhookReceiver:
        if self.mode == "refuse":  # a refusing receiver still needs its port: reserve it once
            if self.port is None:
                super().start()
                super().stop()
            return self
        super().start()
        return self

    def set_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}")
        previous, self.mode = self.mode, mode
        if mode == "refuse" and previous != "refuse":
            super().stop()
        elif mode != "refuse" and previous == "refuse":
            super().start()

    def _record(self, request: WebhookRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def handle(self, conn: socket.socket, stopping: threading.Event) -> None:
        conn.settimeout(30.0)  # an idle keep-alive connection is dropped after 30 s
        handler = type("Handler", (_WebhookHandler,), {"receiver": self, "stopping": stopping})
        handler(conn, conn.getpeername(), None)

    def wait_for(self, predicate: Callable[[WebhookRequest], bool] | None = None, timeout: float = 10.0,
                 *, count: int = 1) -> list[WebhookRequest]:
        """The requests matching ``predicate`` once there are ``count`` of them; AssertionError on timeout."""
        return _wait_records(self._cond, self.requests, predicate, timeout, count, "webhook requests")


def _wait_records(cond: threading.Condition, records: list, predicate, timeout: float, count: int, what: str) -> list:
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            found = [r for r in records if predicate is None or predicate(r)]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout:.1f} s: {len(found)} of {count} {what} "
                                     f"({len(records)} received in all)")
            cond.wait(min(remaining, 0.5))


# --- MQTT --------------------------------------------------------------------------------------------------------


@dataclass
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    received_at: float  # time.time()

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttCollector:
    """Subscribes to ``topic_filter`` on the local broker and records every message with its arrival time.

    Retained messages (zone states of earlier runs) arrive first with ``retain=True``: filter them out, or use a
    unique site code per test (``register_camera`` does).
    """

    def __init__(self, topic_filter: str = "firelane/#", host: str | None = None, port: int | None = None,
                 qos: int = 1) -> None:
        self.topic_filter = topic_filter
        self.host = host or MQTT_BROKER[0]
        self.port = port or MQTT_BROKER[1]
        self.qos = qos
        self.messages: list[MqttMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = None

    def start(self, timeout: float = 5.0) -> MqttCollector:
        import paho.mqtt.client as mqtt

        if self._client is not None:
            return self
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"faultkit-{uuid.uuid4().hex[:12]}")

        def on_connect(client, userdata, flags, reason, properties):
            if not reason.is_failure:
                client.subscribe(self.topic_filter, qos=self.qos)

        def on_subscribe(client, userdata, mid, reasons, properties):
            self._subscribed.set()

        def on_message(client, userdata, message):
            record = MqttMessage(message.topic, bytes(message.payload), bool(message.retain), message.qos, time.time())
            with self._cond:
                self.messages.append(record)
                self._cond.notify_all()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as error:
            _skip_or_fail(f"MQTT broker not reachable at {self.host}:{self.port}: {error}")
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(timeout):
            self.stop()
            _skip_or_fail(f"MQTT broker at {self.host}:{self.port} did not confirm the subscription")
        return self

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._subscribed.clear()

    def __enter__(self) -> MqttCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def wait_for(self, predicate: Callable[[MqttMessage], bool] | None = None, timeout: float = 10.0,
                 *, count: int = 1) -> list[MqttMessage]:
        """The messages matching ``predicate`` once there are ``count`` of them; AssertionError on timeout."""
        return _wait_records(self._cond, self.messages, predicate, timeout, count, f"messages on {self.topic_filter}")


# --- a small disk ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at a fresh temp dir; unmounted (lazily if busy) and removed afterwards.
    Skips the test when mounting is not permitted (needs root or CAP_SYS_ADMIN)."""
    folder = Path(tempfile.mkdtemp(prefix="firelane-tmpfs-"))
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        result = subprocess.CompletedProcess([], 1, "", str(error))
    if result.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a {size} tmpfs (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield folder
    finally:
        done = subprocess.run(["umount", str(folder)], capture_output=True, timeout=30).returncode == 0
        if not done:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)
        with contextlib.suppress(OSError):
            folder.rmdir()


def free_bytes(folder: Path | str) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def fill(folder: Path | str, leave_bytes: int = 0, name: str | None = None) -> Path:
    """Fill the file system of ``folder`` with one filler file until ``leave_bytes`` stay free (0: until ENOSPC).
    Delete the returned file to free the space again."""
    path = Path(folder) / (name or f"faultkit-filler-{uuid.uuid4().hex[:8]}")
    target = max(free_bytes(folder) - leave_bytes, 0)
    chunk = bytes(65536)
    written = 0
    with open(path, "wb", buffering=0) as handle:
        for _ in range(target // len(chunk) + 1000):  # bounded; ENOSPC or the target ends it
            size = len(chunk) if leave_bytes == 0 else min(len(chunk), target - written)
            if size <= 0:
                break
            try:
                written += handle.write(chunk[:size]) or 0
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    return path


# --- firelane serve in a subprocess -------------------------------------------------------------------------------


DEFAULT_SERVER_ENV = {
    "FIRELANE_MODEL": "ssd-coco",  # the offline detector: no download, quick to load
    "FIRELANE_OFFLINE": "1",
    "FIRELANE_ALLOW_DOWNLOAD": "false",
    "FIRELANE_EXPORT_OPENVINO": "false",
    "FIRELANE_ADMIN_USERNAME": ADMIN_USERNAME,
    "FIRELANE_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "FIRELANE_SECRET_KEY": "faultkit-secret-key-" + "k" * 32,
}


class ServerProcess:
    """``python -m service.cli serve --host 127.0.0.1 --port P`` in its own process group, output to ``log_path``.

    ``env`` adds to (None removes from) :data:`DEFAULT_SERVER_ENV`; FIRELANE_* variables of the test process are
    not inherited. ``out_dir`` (a fresh temp dir when not given) is the working directory (so no stray ``.env`` is
    read), holds ``server.log`` and is FIRELANE_OUT_DIR unless ``env`` names another (the database defaults to
    SQLite in FIRELANE_OUT_DIR).
    """

    def __init__(self, env: Mapping[str, str | None] | None = None, args: Sequence[str] = ("serve",), *,
                 port: int | None = None, out_dir: Path | str | None = None, log_path: Path | str | None = None,
                 health_path: str = "/api/health") -> None:
        self.args = list(args)
        self.port = port or free_port()
        self.health_path = health_path
        merged: dict[str, str | None] = {**DEFAULT_SERVER_ENV, **(env or {})}
        # workdir: cwd and log file, never on the (maybe tiny) FIRELANE_OUT_DIR a test points elsewhere
        self.workdir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="firelane-server-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if merged.get("FIRELANE_OUT_DIR") is None:
            merged["FIRELANE_OUT_DIR"] = str(self.workdir)
        self.env = {k: str(v) for k, v in merged.items() if v is not None}
        self.out_dir = Path(self.env["FIRELANE_OUT_DIR"])
        self.log_path = Path(log_path) if log_path else self.workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def username(self) -> str:
        return self.env.get("FIRELANE_ADMIN_USERNAME", ADMIN_USERNAME)

    @property
    def password(self) -> str:
        return self.env.get("FIRELANE_ADMIN_PASSWORD", ADMIN_PASSWORD)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "service.cli", *self.args, "--host", LOCALHOST, "--port", str(self.port)]

    def start(self) -> ServerProcess:
        if self.alive:
            return self
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIRELANE_")}
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.starts += 1
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"\n=== faultkit: start #{self.starts} at {time.strftime('%H:%M:%S')}: "
                           f"{' '.join(self.command()[1:])} ===\n".encode())
            log_file.flush()
            self.proc = subprocess.Popen(self.command(), env=env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60.0, path: str | None = None) -> float:
        """Poll ``GET path`` (default /api/health, which queries the database) until 200; returns the seconds
        it took. RuntimeError when the process exits first, TimeoutError after ``timeout``; both quote the log."""
        start = time.monotonic()
        deadline = start + timeout
        url = self.url + (path or self.health_path)
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"firelane serve exited with {self.returncode} before it was ready:\n"
                                   f"{self.log_tail()}")
            try:
                response = httpx.get(url, timeout=2.0)
                if response.status_code == 200:
                    return time.monotonic() - start
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.2)
        raise TimeoutError(f"firelane serve not ready after {timeout:.0f} s ({url}: {last}):\n{self.log_tail()}")

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)  # start_new_session: the group id is the leader's pid

    def kill9(self, timeout: float = 10.0) -> int | None:
        """SIGKILL to the whole process group (a power cut, an OOM kill); returns the exit status (-9)."""
        self._signal_group(signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        return self.returncode

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the group (a clean shutdown); SIGKILL if it has not exited after ``timeout``."""
        if self.alive:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                log.warning("faultkit: firelane serve ignored SIGTERM for %.0f s; killing it", timeout)
        self._signal_group(signal.SIGKILL)  # leftovers of the group, if any
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        return self.returncode

    def restart(self, *, hard: bool = False, ready_timeout: float | None = 60.0) -> ServerProcess:
        """Stop (SIGKILL when ``hard``, else SIGTERM) and start again on the same port; waits until ready
        unless ``ready_timeout`` is None."""
        if hard:
            self.kill9()
        else:
            self.terminate()
        self.start()
        if ready_timeout is not None:
            self.wait_ready(ready_timeout)
        return self

    def stop(self) -> None:
        self.terminate(timeout=10.0)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def client(self, *, authenticated: bool = True, timeout: float = 10.0) -> httpx.Client:
        """An httpx client for this server, logged in as the operator (bearer token) unless told otherwise."""
        headers = login(self.url, self.username, self.password) if authenticated else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


# --- the operator's setup through the API ---------------------------------------------------------------------


def login(base_url: str, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD,
          timeout: float = 10.0) -> dict[str, str]:
    """Bearer headers for ``username`` (POST /api/auth/token)."""
    response = httpx.post(f"{base_url}/api/auth/token", data={"username": username, "password": password},
                          timeout=timeout)
    if response.status_code != 200:
        raise AssertionError(f"login as {username!r} failed: HTTP {response.status_code}: {response.text[:300]}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Registration:
    base_url: str
    headers: dict[str, str]
    site_id: int
    site_code: str
    camera_id: str
    zone_version: int
    zones: dict[str, Any]
    camera: dict[str, Any] = field(default_factory=dict)

    def live(self, timeout: float = 10.0) -> dict[str, Any]:
        """GET /api/cameras/{id}/live: worker state, frames, objects, zone occupancy."""
        response = httpx.get(f"{self.base_url}/api/cameras/{self.camera_id}/live", headers=self.headers,
                             timeout=timeout)
        response.raise_for_status()
        return response.json()

    def wait_live(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0,
                  what: str = "camera state") -> dict[str, Any]:
        """Poll ``live()`` until ``predicate(live)``; AssertionError with the last state on timeout."""
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal last
            try:
                last = self.live()
            except httpx.HTTPError as error:
                last = {"error": f"{type(error).__name__}: {error}"}
                return None
            return last if predicate(last) else None

        try:
            return wait_until(check, timeout, 0.5, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; last live state: {json.dumps(last, default=str)[:1500]}") from None


def register_camera(server: ServerProcess | str, source_url: str, *, grace_s: float = 6, leave_s: float = 20,
                    fps: float = 2.0, camera_id: str | None = None, site_code: str | None = None,
                    zones: dict[str, Any] | None = None, username: str | None = None,
                    password: str | None = None, timeout: float = 15.0) -> Registration:
    """As the operator: a site (unique code), a camera on ``source_url`` at ``fps`` and the demo fire-lane zone
    (``grace_s``/``leave_s``) as its first zone version. ``server`` is a ServerProcess or a base URL."""
    if isinstance(server, ServerProcess):
        base_url = server.url
        username, password = username or server.username, password or server.password
    else:
        base_url = server.rstrip("/")
        username, password = username or ADMIN_USERNAME, password or ADMIN_PASSWORD
    suffix = uuid.uuid4().hex[:8]
    site_code = site_code or f"fk-{suffix}"
    camera_id = camera_id or f"fk-cam-{suffix}"
    document = dict(zones) if zones is not None else demo_zone_document(grace_s=grace_s, leave_s=leave_s)
    document["camera_id"] = camera_id
    width, height = document.get("frame_size", [None, None])
    headers = login(base_url, username, password, timeout)
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:
        response = client.post("/api/sites", json={"code": site_code, "name": f"faultkit site {suffix}"})
        assert response.status_code == 201, f"create site: HTTP {response.status_code}: {response.text}"
        site_id = response.json()["id"]
        camera = {"id": camera_id, "site_id": site_id, "name": document.get("camera_name", camera_id),
                  "source_url": source_url, "fps": fps, "timezone": document.get("timezone", "Asia/Shanghai")}
        if width and height:
            camera.update(frame_width=width, frame_height=height)
        response = client.post("/api/cameras", json=camera)
        assert response.status_code == 201, f"create camera: HTTP {response.status_code}: {response.text}"
        camera_out = response.json()
        response = client.put(f"/api/cameras/{camera_id}/zones", json=document)
        assert response.status_code == 200, f"save zones: HTTP {response.status_code}: {response.text}"
        version = response.json()["version"]
    return Registration(base_url, headers, site_id, site_code, camera_id, version, document, camera_out)


# --- PostgreSQL ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def new_pg_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh, empty, uniquely named database on the local PostgreSQL; dropped (WITH FORCE) afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    dsn = dict(host=url.host or LOCALHOST, port=url.port or 5432, user=url.username or "postgres",
               password=url.password, dbname=url.database or "postgres", connect_timeout=3, autocommit=True)
    dsn = {k: v for k, v in dsn.items() if v is not None}
    try:
        admin = psycopg.connect(**dsn)
    except psycopg.OperationalError as error:
        _skip_or_fail(f"PostgreSQL not reachable at {url.render_as_string()}: {error}")
    name = f"firelane_fault_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.close()


# --- fixtures ------------------------------------------------------------------------------------------------------


class FaultKit:
    """Factories that start kit pieces and remember them; ``close()`` (the fixture's teardown) stops them all in
    reverse order, servers first killed as a group."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.servers: list[ServerProcess] = []
        self._stack = contextlib.ExitStack()

    def add(self, thing: Any) -> Any:
        """Stop ``thing`` (anything with ``stop()``, or a context manager) at teardown."""
        if hasattr(thing, "stop"):
            self._stack.callback(thing.stop)
        else:
            return self._stack.enter_context(thing)
        return thing

    def mjpeg(self, frames: FrameSpec, fps: float = 5.0, **kwargs: Any) -> MjpegServer:
        return self.add(MjpegServer(frames, fps, **kwargs)).start()

    def proxy(self, target_host: str = LOCALHOST, target_port: int = 5432, **kwargs: Any) -> TcpProxy:
        return self.add(TcpProxy(target_host, target_port, **kwargs)).start()

    def webhook(self, secret: str | None, mode: str = "ok", **kwargs: Any) -> WebhookReceiver:
        return self.add(WebhookReceiver(secret, mode, **kwargs)).start()

    def mqtt(self, topic_filter: str = "firelane/#", **kwargs: Any) -> MqttCollector:
        return self.add(MqttCollector(topic_filter, **kwargs)).start()

    def tmpfs(self, size: str = "2m") -> Path:
        return self._stack.enter_context(small_tmpfs(size))

    def server(self, env: Mapping[str, str | None] | None = None, args: Sequence[str] = ("serve",),
               **kwargs: Any) -> ServerProcess:
        """A started (not yet ready: call ``wait_ready``) firelane serve; out dir under tmp_path by default."""
        kwargs.setdefault("out_dir", self.tmp_path / f"server-{len(self.servers) + 1}")
        server = ServerProcess(env, args, **kwargs)
        self.servers.append(server)
        self._stack.callback(self._stop_server, server)
        return server.start()

    @staticmethod
    def _stop_server(server: ServerProcess) -> None:
        server.kill9()
        # Shown by pytest under "Captured stdout teardown" when the test failed.
        print(f"--- faultkit: log tail of firelane serve on port {server.port} ({server.log_path}) ---")
        print(server.log_tail(80))

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def fault_kit(tmp_path: Path) -> Iterator[FaultKit]:
    kit = FaultKit(tmp_path)
    try:
        yield kit
    finally:
        kit.close()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test (``postgresql://postgres@127.0.0.1:5432/...``)."""
    with new_pg_database() as url:
        yield url
