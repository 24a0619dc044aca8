"""RFC 9457 problem details for every error the API returns; never a traceback."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartcustoms.core.errors import DomainError, loc_to_path
from smartcustoms.core.wire import PROBLEM_STATUSES, Problem

PROBLEM = "application/problem+json"
log = logging.getLogger("smartcustoms.web")


def problem(status: int, title: str, detail: str, instance: str, errors: list[dict] | None = None,
            headers: dict | None = None) -> JSONResponse:
    """An RFC 9457 problem-details JSON response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _validation_message(err: dict) -> str:
    if err.get("type") == "json_invalid":
        ctx = err.get("ctx") or {}
        loc = err.get("loc", ())
        where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return f"malformed JSON{where}: {ctx.get('error', 'cannot be parsed')}"
    return err.get("msg", "invalid")


def document_problems(app: FastAPI) -> None:
    """Document the problem+json answers (401, 403, 404, 409, 413, 422, 429) of every ``/api/`` operation.

    Done once on the generated document, so every router (and every later one) has them; the 422 replaces
    FastAPI's default validation schema, which the API never sends.
    """
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in Problem.model_json_schema(ref_template="#/components/schemas/{model}").pop(
                "$defs", {}).items():
            schemas[name] = schema
        schemas["Problem"] = {k: v for k, v in Problem.model_json_schema(
            ref_template="#/components/schemas/{model}").items() if k != "$defs"}
        ref = {"$ref": "#/components/schemas/Problem"}
        for path, item in doc.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for op in item.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for status, description in PROBLEM_STATUSES.items():
                    op["responses"][str(status)] = {"description": description,
                                                    "content": {PROBLEM: {"schema": ref}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(doc):
                schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the problem-details exception handlers on the FastAPI app."""
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        return problem(exc.status, exc.title, exc.detail, request.url.path, [e.as_dict() for e in exc.errors])

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError):
        errors = [{"field": "body" if e.get("type") == "json_invalid" else loc_to_path(tuple(e.get("loc", ()))),
                   "message": _validation_message(e)} for e in exc.errors()]
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        title = "Malformed JSON" if malformed else "The request is not valid"
        return problem(422, title, "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]),
                       request.url.path, errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
                  413: "Content too large"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception):
        # a number the database cannot hold (a parameter not bounded yet): the caller's value, not a crash
        log.warning("out-of-range value on %s: %s", request.url.path, type(exc).__name__)
        return problem(422, "The request is not valid", "a number in the request is out of range",
                       request.url.path, [{"field": "request", "message": "a number is out of range"}])

    document_problems(app)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "Internal error", "the server could not complete the request; it was logged",
                       request.url.path)
