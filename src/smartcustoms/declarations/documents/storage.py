"""Where documents' bytes are kept: a small :class:`DocumentStore` protocol, by content hash.

:class:`FileSystemStore` keeps them as files under the data directory (``<data_dir>/documents/ab/abcd...``), the
name being the SHA-256 of the content: the same file attached twice is stored once, and a file whose content no
longer matches its name is detected on reading. :class:`S3Store` keeps them as objects of an S3-compatible
store (AWS S3, MinIO, Ceph, OSS's S3 API) under the same two-level key; :func:`store_for` picks one by the
settings (``object_store_url`` set: S3, else files), for documents and scan images alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from smartcustoms.core.config import Settings

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


class S3Store:
    """Content as objects ``<prefix>/<ab>/<sha256>`` in an S3 bucket (or an S3-compatible store at ``endpoint``),
    checked against their hash on reading like files. ``client`` is a boto3 S3 client (made from the arguments
    and boto3's usual credential chain when not given). Needs boto3 (the ``s3`` extra)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None, region: str | None = None,
                 client: Any = None) -> None:
        if client is None:
            try:
                import boto3
            except ImportError:
                raise RuntimeError("the object store needs boto3: install smartcustoms[s3]") from None
            client = boto3.client("s3", endpoint_url=endpoint, region_name=region)
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def key(self, sha256: str) -> str:
        """The object key that holds (or would hold) the content with this hash."""
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def put(self, sha256: str, data: bytes) -> None:
        """Upload the content unless an object of its size is there already (an S3 PUT is atomic)."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("the content does not hash to its key")
        if self._size(sha256) == len(data):
            return
        self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data,
                               ContentType="application/octet-stream")

    def get(self, sha256: str) -> bytes:
        """The object's bytes, checked against their hash."""
        try:
            data = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StoredContentMissing(f"no stored content {sha256}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoredContentMissing(f"the stored content {sha256} is damaged (its hash differs)")
        return bytes(data)

    def exists(self, sha256: str) -> bool:
        """Whether the object is there."""
        return self._size(sha256) is not None

    def _size(self, sha256: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))["ContentLength"])
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise


def store_for(settings: Settings, kind: str, directory: Path) -> DocumentStore:
    """Where ``kind`` (``documents``, ``images``) is kept: under ``<prefix>/<kind>/`` of the object store when
    ``object_store_url`` (``s3://bucket[/prefix]``) is set, else in files under ``directory``."""
    url = settings.object_store_url
    if not url:
        return FileSystemStore(directory)
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"object_store_url must be s3://bucket[/prefix], not {url!r}")
    prefix = "/".join(p for p in (parsed.path.strip("/"), kind) if p)
    return S3Store(parsed.netloc, prefix, endpoint=settings.object_store_endpoint, region=settings.object_store_region)
