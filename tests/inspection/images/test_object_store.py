"""The object-store setting: documents and scan images kept in an S3-compatible store, tested against a real S3
endpoint over HTTP (moto in server mode on a free loopback port), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from smartcustoms.core.config import Settings
from smartcustoms.declarations.documents.service import DocumentService
from smartcustoms.declarations.documents.storage import FileSystemStore, S3Store, StoredContentMissing, store_for
from smartcustoms.inspection.images.service import ImageService
from tests.support import lodge

boto3 = pytest.importorskip("boto3")
BUCKET = "customs-files"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 as an HTTP server on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> Iterator[object]:
    """A fresh bucket (boto3 reads the test credentials from the environment, as in production)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_the_s3_store_keeps_content_by_hash_and_detects_damage(s3, s3_endpoint):
    store = S3Store(BUCKET, "/deploy/", endpoint=s3_endpoint)
    data = b"bill of lading scan" * 100
    sha = hashlib.sha256(data).hexdigest()
    assert not store.exists(sha)
    with pytest.raises(StoredContentMissing, match="no stored content"):
        store.get(sha)
    store.put(sha, data)
    store.put(sha, data)  # the same content twice: stored once
    assert store.exists(sha) and store.get(sha) == data
    assert keys(s3) == [f"deploy/{sha[:2]}/{sha}"]
    with pytest.raises(ValueError, match="does not hash"):
        store.put(sha, data + b"x")
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.get("../etc/passwd")
    s3.put_object(Bucket=BUCKET, Key=f"deploy/{sha[:2]}/{sha}", Body=b"tampered")
    with pytest.raises(StoredContentMissing, match="damaged"):
        store.get(sha)


def test_the_setting_picks_the_store():
    assert isinstance(store_for(Settings(), "images", FileSystemStore(".").root), FileSystemStore)
    for url in ("https://bucket/x", "s3://", "bucket"):
        with pytest.raises(ValueError, match="s3://bucket"):
            store_for(Settings(object_store_url=url), "images", FileSystemStore(".").root)


def test_images_and_documents_go_to_the_object_store(client, world, s3, s3_endpoint, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", object_store_url=f"s3://{BUCKET}/smartcustoms",
                        object_store_endpoint=s3_endpoint, images_tip_share=0.0)
    p = world.platform
    images = ImageService.from_settings(p.declarations, p.inspections, settings)
    documents = DocumentService.from_settings(p.declarations, settings)
    no = lodge(client, world).json()["declaration_no"]
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(60, 250, (32, 48)).astype(np.uint8), mode="L").save(buf, "PNG")
    scan = images.upload(world.principals["officer"], buf.getvalue(), "declaration", no)
    pixels = images.pixels_png(world.principals["officer"], scan.id)  # read back from S3 (the DICOS copy)
    assert Image.open(io.BytesIO(pixels)).size == (48, 32)
    pdf = io.BytesIO()
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.write(pdf)
    doc = documents.attach(world.principals["trader"], no, "invoice", "invoice.pdf", pdf.getvalue())
    _, data = documents.read(world.principals["trader"], no, doc.id)
    assert data == pdf.getvalue()
    stored = keys(s3)
    assert f"smartcustoms/images/{scan.sha256[:2]}/{scan.sha256}" in stored
    assert f"smartcustoms/documents/{doc.sha256[:2]}/{doc.sha256}" in stored
    assert len([k for k in stored if k.startswith("smartcustoms/images/")]) == 2  # the PNG and its DICOS copy
    assert not (tmp_path / "data" / "images").exists() and not (tmp_path / "data" / "documents").exists()
