"""The installation's evidence key: every manifest is signed with it (Ed25519), so a manifest that was altered,
forged or signed elsewhere shows, offline, with nothing but the public key.

The private key lives in one file (``FIRELANE_SIGNING_KEY_FILE``, default ``<out_dir>/signing_key.pem``, created
0600 on first use); every process of an installation must use the same file. The public key is served by the API
(``/api/evidence/public-key``) and printed by ``firelane key``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)
ALGORITHM = "Ed25519"
SIGNATURE_FORMAT = "firelane-signature/1"
SEALED_LATER_HEADER = b"firelane-sealed-later/1\n"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (the first 16 hex digits of the SHA-256 of its raw bytes)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class ManifestSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def signature(self, manifest: bytes, sealed_at: datetime | None = None) -> bytes:
        """The ``manifest.sig`` document for these manifest bytes. ``sealed_at``: evidence recorded before it was
        signed, sealed later (``firelane seal``): the time is signed with it, so the label cannot be stripped."""
        document = {
            "format": SIGNATURE_FORMAT,
            "algorithm": ALGORITHM,
            "key_id": key_id(self.public_key),
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        }
        if sealed_at is not None:
            document["sealed_at"] = sealed_at.isoformat()
        signed = _signed_bytes(manifest, document.get("sealed_at"))
        document["signature"] = base64.b64encode(self.private_key.sign(signed)).decode("ascii")
        return json.dumps(document, indent=2).encode("utf-8")

    @classmethod
    def load_or_create(cls, path: Path) -> ManifestSigner:
        """The key in ``path``; made once (owner-only) when the file does not exist yet."""
        path = path.expanduser()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                return cls.load_or_create(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            log.info("created the evidence signing key %s (key id %s)", path, key_id(key.public_key()))
            return cls(key)
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by other users; chmod 600 it", path)
        return cls(key)


def _signed_bytes(manifest: bytes, sealed_at: str | None) -> bytes:
    """What a signature covers: the manifest, or for a later seal a header naming when, then the manifest."""
    return manifest if sealed_at is None else SEALED_LATER_HEADER + f"{sealed_at}\n".encode("utf-8") + manifest


def _is_time(text: str) -> bool:
    """A sealing time as ``ManifestSigner.signature`` writes it: ISO 8601 date and time with its UTC offset (what
    the API and ``firelane verify`` show of it must be a time, whoever made the file)."""
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def sealed_at(signature_document: bytes) -> str | None:
    """When evidence recorded before signing was sealed (None: signed when it was recorded). Meaningful only for a
    signature ``check_signature`` accepts."""
    try:
        value = json.loads(signature_document).get("sealed_at")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def check_signature(manifest: bytes, signature_document: bytes, public_key: Ed25519PublicKey) -> str | None:
    """None when ``signature_document`` is a valid signature of ``manifest`` by ``public_key``; else what is wrong."""
    try:
        document = json.loads(signature_document)
        signature = base64.b64decode(document["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        return "signature file unreadable"
    if document.get("algorithm") != ALGORITHM:
        return f"signature algorithm {document.get('algorithm')!r} is not {ALGORITHM}"
    if document.get("key_id") != key_id(public_key):
        return f"signed with another key ({document.get('key_id')}, expected {key_id(public_key)})"
    label = document.get("sealed_at")
    if label is not None and not (isinstance(label, str) and _is_time(label)):
        return "signature file unreadable"
    try:
        public_key.verify(signature, _signed_bytes(manifest, label))
    except InvalidSignature:
        return "signature does not match the manifest (altered, forged, or its writer stopped between the two)"
    return None
