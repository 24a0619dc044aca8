"""What an uploaded file is, by its content: magic bytes, then a PDF must open (pypdf) and an image decode (Pillow).

The sender's file name and content type are never trusted: a text file named ``invoice.pdf`` is refused, and a
PNG named ``scan.pdf`` is kept as ``scan.png``. File names are sanitised for storage and for the
``Content-Disposition`` of a download.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from urllib.parse import quote

PDF, PNG, JPEG, TIFF = "application/pdf", "image/png", "image/jpeg", "image/tiff"
#: the accepted content types, with their extensions (the first is the one given to a name that has none of them)
EXTENSIONS: dict[str, tuple[str, ...]] = {PDF: (".pdf",), PNG: (".png",), JPEG: (".jpg", ".jpeg"),
                                         TIFF: (".tif", ".tiff")}
_MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG), (b"II*\x00", TIFF),
          (b"MM\x00*", TIFF))
_PIL_FORMATS = {PNG: "PNG", JPEG: "JPEG", TIFF: "TIFF"}
NAME_MAX = 120  # characters of a stored file name, extension included


@dataclass
class ContentRefused(Exception):
    """The file is not an accepted document: ``code`` names why (``wrong_type``, ``unreadable``, ...)."""

    code: str
    message: str
    values: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def sniff(data: bytes) -> str | None:
    """The accepted content type the file's first bytes announce, or None.

    A PDF may have a few bytes before its header (readers look in the first 1024); images may not.
    """
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return PDF if b"%PDF-" in data[:1024] else None


def _check_pdf(data: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ContentRefused("encrypted", "the PDF is protected by a password: send it without one")
            pages = len(reader.pages)
    except ContentRefused:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError,
            RecursionError, NotImplementedError) as exc:
        raise ContentRefused("unreadable", f"the file does not open as a PDF ({type(exc).__name__})",
                             {"type": "PDF"}) from None
    if pages < 1:
        raise ContentRefused("unreadable", "the PDF has no pages", {"type": "PDF"})


def _check_image(data: bytes, kind: str, max_pixels: int) -> None:
    from PIL import Image, UnidentifiedImageError

    name = _PIL_FORMATS[kind]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[name]) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ContentRefused("too_many_pixels", f"the image has {width} × {height} pixels; at most "
                                         f"{max_pixels:,} are accepted", {"width": width, "height": height,
                                                                          "max": max_pixels})
                if kind == JPEG:  # decode at 1/8 scale: every block is still read, at a fraction of the cost
                    img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
                img.load()  # the first frame (a TIFF's first page) decodes
    except ContentRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ContentRefused("unreadable", f"the file does not decode as a {name} image ({type(exc).__name__})",
                             {"type": name}) from None


def check_content(data: bytes, max_pixels: int = 50_000_000) -> str:
    """The file's content type when it is an accepted document that opens; :class:`ContentRefused` otherwise."""
    if not data:
        raise ContentRefused("empty", "the file is empty")
    kind = sniff(data)
    if kind is None:
        raise ContentRefused("wrong_type", "the file is not a PDF, PNG, JPEG or TIFF document (by its content, "
                                           "whatever its name says)")
    if kind == PDF:
        _check_pdf(data)
    else:
        _check_image(data, kind, max_pixels)
    return kind


_UNSAFE = re.compile(r'[\\/:*?"<>|;=%`$\x00-\x1f\x7f]+')
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def safe_file_name(name: str | None, content_type: str) -> str:
    """A file name fit to store and to offer for download: no folders, no control or shell characters, at most
    :data:`NAME_MAX` characters, and an extension that matches the content (``scan.pdf`` of a PNG → ``scan.png``).
    Letters of any script (中文 too) stay."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")  # control, format, unassigned
    base = _SPACES.sub(" ", _UNSAFE.sub("_", base)).strip(" ._-")
    allowed = EXTENSIONS[content_type]
    m = _EXTENSION.search(base)
    stem, ext = (base[:m.start()], m.group(0).lower()) if m else (base, "")
    if ext not in allowed:  # another type's extension is replaced by the content's
        ext = allowed[0]
    stem = stem.strip(" ._-")[: NAME_MAX - len(ext)].rstrip(" ._-") or "document"
    return stem + ext


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the UTF-8 name as ``filename*`` (RFC 6266)."""
    ascii_name = file_name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"
