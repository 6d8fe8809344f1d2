"""The app: `POST /v1/dags` generates, validates and repairs; `/` is a page for people."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

import dageval
from airflow_net_server.page import PAGE
from airflow_net_server.settings import AppSettings
from dagcore import (
    FIX_IMPORTS_BY_DEFAULT,
    GRAMMAR_BY_DEFAULT,
    RETRY_BY_DEFAULT,
    BodyError,
    BodyLimits,
    ClientGone,
    Retry,
    read_json_body,
)
from dagserve import Client, ClientError, Validator, generate_valid_dag
from dagsynth.spec import spec_loop_args


class DagRequest(BaseModel):
    request: str = Field(min_length=3, max_length=8000)
    """What the DAG should do, in words."""
    airflow_version: str | None = Field(None, pattern=r"^\d+\.\d+(\.\d+)?$")
    max_attempts: int | None = Field(None, ge=1, le=10)
    fix_imports: bool = FIX_IMPORTS_BY_DEFAULT
    """Move each answer's Airflow imports to where the target version has them, and mend a string's bare inner double
    quotes where they stop it parsing, before validating it (false: judge the model's own file)."""
    retry: Retry = RETRY_BY_DEFAULT
    """How a rejected answer is asked for again: `feedback` shows the model its error, `temperature` samples the
    retries (dagcore.Retry)."""
    grammar: bool = GRAMMAR_BY_DEFAULT
    """Decode the first answer under the model's Python answer grammar too (the retries follow `retry.grammar`); a spec
    keeps its own schema."""
    spec: bool = False
    """Ask for a DAG spec under its JSON schema and render the file for the version (`dagsynth.spec`), instead of
    asking for the file; the model server must take `response_format` (dagserve does)."""


# A request is at most 8000 characters; even written as \u escapes it is far below this.
LIMITS = BodyLimits(max_bytes=256 * 1024, max_depth=8, max_values=1000)


async def dag_request(request: Request) -> DagRequest:
    """The body, read by dagcore's safe reader rather than FastAPI's (which reads any size, then parses)."""
    try:
        body = await read_json_body(request.receive, request.headers.get("content-length"), LIMITS)
    except BodyError as e:
        if e.status == 413:  # uvicorn discards the rest of the body; none of it is held
            raise HTTPException(413, str(e)) from e
        raise RequestValidationError([{"type": e.code, "loc": ("body",), "msg": str(e), "input": None}]) from e
    try:
        return DagRequest.model_validate(body)
    except ValidationError as e:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]
        raise RequestValidationError(errors) from e


class AttemptOut(BaseModel):
    number: int
    ok: bool
    level: str | None
    category: str | None
    message: str
    code: str | None
    completion: str
    finish_reason: str | None
    generate_s: float
    validate_s: float
    levels: list[dict[str, object]] = []
    fixes: list[str] = []
    """What `fix_imports` changed in this answer: imports moved, a line's quotes mended."""


class DagResponse(BaseModel):
    ok: bool
    code: str | None
    html: str
    """The code with syntax highlighting (Pygments), ready for a page."""
    airflow_version: str | None
    attempts: list[AttemptOut]
    total_s: float


def create_app(settings: AppSettings, client: Client | None = None, validator: Validator | None = None) -> FastAPI:
    """`client` and `validator` default to the settings' endpoint (or a local dagserve) and dageval."""
    try:
        level = dageval.Level.from_label(settings.level)
    except dageval.InputError as e:
        raise ValueError(str(e)) from e
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["client"] = client or _client(settings)
        with ExitStack() as owned:  # a validator made here is closed here; one passed in belongs to the caller
            state["validator"] = validator or owned.enter_context(
                dageval.Validator(level, runtime_root=settings.runtime_root, install_runtimes=settings.install_runtimes)
            )
            yield

    app = FastAPI(title="airflow-net", lifespan=lifespan)
    app.add_exception_handler(ClientGone, _client_gone)
    formatter = HtmlFormatter(cssclass="code", nowrap=False)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        options = "".join(f'<option value="{v}">{v}</option>' for v in _versions(settings))
        css = str(formatter.get_style_defs(".code"))  # type: ignore[no-untyped-call]
        return PAGE.replace("{{OPTIONS}}", options).replace("{{CSS}}", css)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/versions")
    def versions() -> list[str]:
        return _versions(settings)

    body_schema = {"content": {"application/json": {"schema": DagRequest.model_json_schema()}}, "required": True}

    @app.post("/v1/dags", openapi_extra={"requestBody": body_schema})
    def dags(body: Annotated[DagRequest, Depends(dag_request)]) -> DagResponse:
        start = time.perf_counter()
        active: Client = state["client"]  # type: ignore[assignment]
        try:
            result = generate_valid_dag(
                active,
                state["validator"],  # type: ignore[arg-type]
                body.request,
                body.airflow_version,
                max_attempts=body.max_attempts or settings.max_attempts,
                max_tokens=settings.max_tokens,
                fix_imports=body.fix_imports and not body.spec,
                retry=body.retry,
                grammar=body.grammar,
                **(spec_loop_args(body.request, body.airflow_version) if body.spec else {}),
            )
        except ClientError as e:
            raise HTTPException(502, f"the model server failed: {e}") from e
        attempts = [
            AttemptOut(
                number=a.number,
                ok=a.verdict.ok,
                level=a.verdict.level,
                category=a.verdict.category,
                message=a.verdict.message,
                code=a.generation.code,
                completion=a.generation.completion,
                finish_reason=a.generation.finish_reason,
                generate_s=a.generation.timings.total_s,
                validate_s=a.validate_s,
                levels=list(a.verdict.details.get("levels", [])),
                fixes=a.fixes,
            )
            for a in result.attempts
        ]
        code = result.final.generation.code
        return DagResponse(
            ok=result.ok,
            code=code,
            html=highlight(code, PythonLexer(), formatter) if code else "",
            airflow_version=body.airflow_version,
            attempts=attempts,
            total_s=time.perf_counter() - start,
        )

    return app


async def _client_gone(_: Request, exc: Exception) -> Response:
    return Response(status_code=499)  # the client left while sending its body; nobody reads this


def _versions(settings: AppSettings) -> list[str]:
    installed = [info.version for info in dageval.installed_runtimes(settings.runtime_root)]
    return list(dict.fromkeys([*settings.airflow_versions, *reversed(installed)]))


def _client(settings: AppSettings) -> Client:
    if settings.endpoint:
        return Client(settings.endpoint, api_key=settings.api_key, model=settings.model)
    from dagserve import ServeConfig, start_server

    return Client(start_server(ServeConfig(model=settings.model, port=0)).url)  # reuses a running one
