"""Where evidence files live: a local folder (the default) or S3-compatible object storage, behind one small
interface, so every process of an installation (cameras on any machine, any number of API processes) writes and
reads the same evidence, and manifests, hashes, signatures and chains work the same on both.

Keys are relative POSIX paths, ``<camera>/<violation folder>/<file>`` as on disk. A put is all or nothing (a local
file is written beside and renamed; an S3 object appears whole or not at all), so a reader never sees half a file.
Failures are ``OSError`` (``EvidenceMissing`` for a key that is not there), which the evidence writer already
turns into a named problem and an incomplete violation rather than a lost one.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlparse

S3_SCHEME = "s3://"


class EvidenceMissing(FileNotFoundError):
    """No object or file under that key."""


class EvidenceLinked(OSError):
    """A local file replaced by a symbolic link: whatever it points to, it is not what was recorded there."""


class EvidenceStoreError(OSError):
    """The store refused or did not answer (object storage down, access denied)."""


def check_key(key: str) -> str:
    """``key`` when it is a plain relative path (no ``..``, no absolute or empty parts); else ``ValueError``."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or key.endswith("/") or "\\" in key or any(p in (".", "..") for p in parts) \
            or len(parts) != len(key.split("/")):
        raise ValueError(f"not an evidence key: {key!r}")
    return key


class EvidenceStore(Protocol):
    """What the evidence writer, the API, ``firelane verify`` and the camera pipeline need of a store."""

    url: str  # where it is, for people: a folder or s3://bucket/prefix

    def put(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` + "/" (all depths), sorted."""

    def folders(self, prefix: str = "") -> list[str]:
        """The names of the "folders" directly under ``prefix`` (the root when empty), sorted."""

    def location(self, key: str) -> str:
        """Where a person finds ``key`` (a path, or an s3:// URL)."""

    def local_path(self, key: str) -> Path | None:
        """The file on disk for a local store (served with range requests); None for object storage."""


def snapshot_key(camera_id: str) -> str:
    """Where a camera's latest frame is shared in object storage (beside the evidence, never verified as it)."""
    return f"_snapshots/{camera_id}.jpg"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalEvidenceStore:
    """Evidence in a folder; reads never follow a link or leave the folder."""

    def __init__(self, root: Path):
        self.root = Path(root).expanduser()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*PurePosixPath(check_key(key)).parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        partial = path.with_name(f".{path.name}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError:
            partial.unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if path.is_symlink():
            raise EvidenceLinked(f"{key}: replaced by a link")
        base = self.root.resolve()
        resolved = path.resolve()
        if not resolved.is_relative_to(base) or not resolved.is_file():
            raise EvidenceMissing(f"{key}: missing")
        return resolved.read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        path = self._path(key)
        return path.is_file() and not path.is_symlink()

    def keys(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        if folder.is_symlink() or not folder.is_dir():
            return []
        found = []
        for current, dirs, files in os.walk(folder):  # os.walk does not follow links into other folders
            relative = Path(current).relative_to(self.root).as_posix()
            found += [f"{relative}/{name}" for name in files if not name.startswith(".")]
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        return sorted(found)

    def folders(self, prefix: str = "") -> list[str]:
        folder = self._path(prefix) if prefix else self.root
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink())

    def location(self, key: str) -> str:
        return str(self._path(key))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified_at: datetime


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "a/b" (no slashes at either end)

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"{url!r} is not an s3://bucket/prefix URL")
        prefix = parsed.path.strip("/")
        if prefix:
            check_key(prefix)
        return cls(parsed.netloc, prefix)


class S3EvidenceStore:
    """Evidence in an S3-compatible bucket under a prefix (AWS S3, MinIO, SeaweedFS, Ceph RGW...), through boto3."""

    def __init__(self, location: S3Location, client: Any):
        self.location_ = location
        self.client = client
        self.url = f"{S3_SCHEME}{location.bucket}/{location.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.location_.prefix}/{key}" if self.location_.prefix else key

    def _call(self, what: str, key: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.location_.bucket, **kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise EvidenceMissing(f"{key}: missing") from None
            raise EvidenceStoreError(f"{what} {self.url}/{key}: {code or error}") from error
        except BotoCoreError as error:  # endpoint down, timeouts, credentials not found
            raise EvidenceStoreError(f"{what} {self.url}/{key}: {error}") from error

    def put(self, key: str, data: bytes) -> None:
        self._call("writing", key, "put_object", Key=self._key(key), Body=data)

    def read(self, key: str) -> bytes:
        answer = self._call("reading", key, "get_object", Key=self._key(key))
        try:
            return answer["Body"].read()
        except Exception as error:  # noqa: BLE001 - a connection that drops mid-body
            raise EvidenceStoreError(f"reading {self.url}/{key}: {error}") from error

    def delete(self, key: str) -> None:
        self._call("deleting", key, "delete_object", Key=self._key(key))

    def exists(self, key: str) -> bool:
        try:
            self._call("looking up", key, "head_object", Key=self._key(key))
        except EvidenceMissing:
            return False
        return True

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict]:
        full = self._key(prefix) + "/" if prefix else (f"{self.location_.prefix}/" if self.location_.prefix else "")
        kwargs: dict[str, Any] = {"Prefix": full}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        while True:
            page = self._call("listing", prefix or ".", "list_objects_v2", **kwargs)
            yield full, page
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def keys(self, prefix: str) -> list[str]:
        return [stored.key for stored in self.objects(prefix)]

    def objects(self, prefix: str) -> list[StoredObject]:
        """Every object under ``prefix`` + "/" (all depths) with its size and time, sorted by key: one listing
        tells what a page of files shows, without asking for each object."""
        strip = len(self.location_.prefix) + 1 if self.location_.prefix else 0
        found = []
        for _, page in self._pages(prefix, None):
            found += [StoredObject(item["Key"][strip:], int(item["Size"]), item["LastModified"])
                      for item in page.get("Contents", [])]
        return sorted(found, key=lambda stored: stored.key)

    def under(self, folder: str) -> S3EvidenceStore:
        """The store of the keys under ``folder`` (same bucket, client and credentials)."""
        prefix = f"{self.location_.prefix}/{check_key(folder)}" if self.location_.prefix else check_key(folder)
        return S3EvidenceStore(S3Location(self.location_.bucket, prefix), self.client)

    def folders(self, prefix: str = "") -> list[str]:
        names = []
        for full, page in self._pages(prefix, "/"):
            names += [entry["Prefix"][len(full):].rstrip("/") for entry in page.get("CommonPrefixes", [])]
        return sorted(n for n in names if n)

    def location(self, key: str) -> str:
        return f"{self.url}/{key}"

    def local_path(self, key: str) -> Path | None:
        return None


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def s3_client(endpoint_url: str | None, region: str | None, access_key_id: str | None,
              secret_access_key: str | None) -> Any:
    """One boto3 client per configuration and process (clients are thread-safe), with bounded timeouts and
    retries: a camera waits seconds for object storage that is down, never minutes."""
    config_key = (endpoint_url, region, access_key_id, secret_access_key)
    with _clients_lock:
        if config_key not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"},
                            s3={"addressing_style": "path"} if endpoint_url else None)
            _clients[config_key] = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key, config=config)
        return _clients[config_key]


def open_store(url: str | Path, settings: Any = None) -> EvidenceStore:
    """The store at ``url``: an s3://bucket/prefix URL (endpoint and credentials from ``settings``, else boto3's
    usual AWS_* variables and files) or a folder."""
    if isinstance(url, str) and url.startswith(S3_SCHEME):
        secret = getattr(settings, "s3_secret_access_key", None)
        client = s3_client(getattr(settings, "s3_endpoint_url", None), getattr(settings, "s3_region", None),
                           getattr(settings, "s3_access_key_id", None),
                           secret.get_secret_value() if secret is not None else None)
        return S3EvidenceStore(S3Location.parse(url), client)
    return LocalEvidenceStore(Path(url))


def evidence_store(settings: Any) -> EvidenceStore:
    """The installation's evidence store: ``evidence_url`` when set, else the local ``evidence_root``."""
    return open_store(settings.evidence_url or settings.evidence_root, settings)
