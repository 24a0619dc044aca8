"""Domain errors that adapters turn into RFC 9457 problem details (API) or line/field messages (files)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; ``field`` is a path like ``items[0].hs_code``."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The field error as a JSON dict of field and message."""
        return {"field": self.field, "message": self.message}


class DomainError(Exception):
    """Base of errors with an HTTP status, a short title and optional field errors.

    ``title`` (optional) replaces the class's title for this error, e.g. "The risk rule is not valid".
    """

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if title is not None:
            self.title = title


class ValidationProblem(DomainError):
    """The request's content breaks a rule (422); a domain gives it its own title (what is not valid)."""

    status = 422
    title = "The request is not valid"


class NotFound(DomainError):
    """A requested record does not exist or is not visible to the caller (404)."""
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    """The caller's role may not perform this action (403)."""
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    """The action clashes with the record's current state (409)."""
    status = 409
    title = "Conflict"


def loc_to_path(loc: tuple) -> str:
    """Pydantic's ``("body", "items", 0, "hs_code")`` as ``items[0].hs_code``."""
    parts: list[str] = []
    for p in loc:
        if p in ("body", "query", "path", "header") and not parts:
            continue
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "body"
