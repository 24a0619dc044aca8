"""RFC 9457 problem details for every error the API returns; never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartcustoms.errors import DomainError, loc_to_path

PROBLEM = "application/problem+json"
log = logging.getLogger("smartcustoms.web")


def problem(status: int, title: str, detail: str, instance: str, errors: list[dict] | None = None,
            headers: dict | None = None) -> JSONResponse:
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


def install(app: FastAPI) -> None:
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
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "Internal error", "the server could not complete the request; it was logged",
                       request.url.path)
