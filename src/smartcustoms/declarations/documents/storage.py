"""Where documents' bytes are kept: a small :class:`DocumentStore` protocol, by content hash.

:class:`FileSystemStore` keeps them as files under the data directory (``<data_dir>/documents/ab/abcd...``), the
name being the SHA-256 of the content: the same file attached twice is stored once, and a file whose content no
longer matches its name is detected on reading. An object store (S3, MinIO, OSS) plugs in by implementing the
same three methods with the hash as the object key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StoredContentMissing(Exception):
    """The store has no content under a hash, or content that no longer hashes to it."""


class DocumentStore(Protocol):
    """Content-addressed storage of document bytes (the key is the content's SHA-256, hex)."""

    def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` under ``sha256`` (which is its hash); a second put of the same content does nothing."""
        ...

    def get(self, sha256: str) -> bytes:
        """The content kept under ``sha256``; :class:`StoredContentMissing` when absent or damaged."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether content is kept under ``sha256``."""
        ...


class FileSystemStore:
    """Documents as files under ``root``, two-level by hash, readable by the owner only (0600 files, 0700 folders)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """The file that holds (or would hold) the content with this hash."""
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        """Write the content atomically (a temporary file renamed into place) unless it is there already."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("the content does not hash to its key")
        target = self.path(sha256)
        if target.is_file() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = target.with_name(f".{sha256}.{os.getpid()}.{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def get(self, sha256: str) -> bytes:
        """The file's bytes, checked against their hash."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise StoredContentMissing(f"no stored content {sha256}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoredContentMissing(f"the stored content {sha256} is damaged (its hash differs)")
        return data

    def exists(self, sha256: str) -> bool:
        """Whether the file is there."""
        return self.path(sha256).is_file()
