"""The HTTP side: OpenAI's chat and completions endpoints, models, health, and the prompt contract."""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dagcore import BodyError, BodyLimits, ClientGone, PromptContract, read_json_body
from dagserve._grammar import GrammarError, check_grammar, grammar_for
from dagserve._llama import LlamaRuntime
from dagserve._prompt import PromptTokenizer
from dagserve._reply import Reply, sse_events
from dagserve._stream import Stream
from dagserve._template import ChatTemplate, Rendered
from dagserve.engine import Engine, SamplingParams
from dagserve.exceptions import BusyError
from dagserve.schemas import ChatCompletionRequest, CompletionRequest

LIMITS = BodyLimits()
M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")


@dataclass
class Service:
    """What the endpoints serve: one model, its engine, its chat template and prompt contract."""

    runtime: LlamaRuntime
    engine: Engine
    template: ChatTemplate
    contract: PromptContract
    model_id: str
    api_key: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    tokenizer: PromptTokenizer = field(init=False)

    def __post_init__(self) -> None:
        self.tokenizer = PromptTokenizer(self.runtime)

    async def chat_tokens(self, rendered: Rendered) -> list[int]:
        """Raises ValueError when the messages cannot be tokenised safely (see `PromptTokenizer.chat`)."""
        # Templates usually write the BOS themselves; adding another would double it.
        bos = self.runtime.bos_text
        add_bos = self.runtime.add_bos and not (bos and rendered.text.startswith(bos))
        return await _off_loop_if_long(len(rendered.text), self.tokenizer.chat, rendered, add_bos=add_bos)

    async def text_tokens(self, text: str) -> list[int]:
        return await _off_loop_if_long(len(text), self.tokenizer.text, text, add_bos=self.runtime.add_bos)

    def model_card(self) -> dict[str, Any]:
        rt = self.runtime
        return {
            "id": self.model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "dagserve",
            "meta": {
                "path": str(rt.path),
                "n_ctx": rt.n_ctx_seq,
                "n_ctx_train": rt.n_ctx_train,
                "n_params": rt.n_params,
                "size": rt.size,
                "parallel": rt.n_seq_max,
                "chat_template": "gguf" if self.template.from_model else "chatml-default",
            },
            "contract": self.contract.model_dump(),
        }


class ApiError(Exception):
    """An OpenAI-style error answer."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type, code
        self.headers: dict[str, str] = {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "code": self.code, "param": None}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def create_app(service: Service) -> Starlette:
    """The ASGI app; its lifespan starts the engine thread on the server's event loop and stops it after."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        service.engine.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            service.engine.close()

    async def health(_: Request) -> Response:
        failure = service.engine.failure
        body: dict[str, Any] = {"status": "error" if failure else "ok", "model": service.model_id, "pid": os.getpid()}
        if failure:
            body["error"] = failure
        return JSONResponse({**body, **service.engine.stats()}, status_code=503 if failure else 200)

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [service.model_card()]})

    async def contract(_: Request) -> Response:
        return JSONResponse(service.contract.model_dump())

    async def chat(request: Request) -> Response:
        req = _parse(ChatCompletionRequest, await _json_body(request))
        messages = [m.as_template_input() for m in req.messages]
        # Before the template renders megabytes: a template writes each message's content at least once.
        _fits_at_all(service, *(m["content"] for m in messages))
        try:
            rendered = service.template.render_pieces(messages)
            prompt = await service.chat_tokens(rendered)
        except ValueError as e:
            raise ApiError(400, str(e), code="invalid_messages") from e
        return await _generate(service, request, req, prompt, req.max_completion_tokens or req.max_tokens, chat=True)

    async def completions(request: Request) -> Response:
        req = _parse(CompletionRequest, await _json_body(request))
        _fits_at_all(service, req.text())
        prompt = await service.text_tokens(req.text())
        return await _generate(service, request, req, prompt, req.max_tokens, chat=False)

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return ApiError(exc.status_code, str(exc.detail), code=f"http_{exc.status_code}").response()

    async def gone(_: Request, exc: Exception) -> Response:
        return Response(status_code=499)  # the client left while sending; nobody reads this

    async def crash(_: Request, exc: Exception) -> Response:
        return ApiError(500, f"internal error: {exc!r}", type="server_error").response()

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/models", models),
            Route("/v1/dagserve/contract", contract),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
        ],
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            ClientGone: gone,
            ClientDisconnect: gone,
            Exception: crash,
        },
        lifespan=lifespan,
    )
    if service.api_key:
        app.add_middleware(BearerAuth, api_key=service.api_key)
    return app


class BearerAuth:
    """Requests to /v1 need `Authorization: Bearer <key>`; /health stays open for liveness checks."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                error = ApiError(
                    401,
                    "missing or wrong API key (send `Authorization: Bearer KEY`)",
                    type="authentication_error",
                    code="invalid_api_key",
                )
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _json_body(request: Request) -> Any:
    try:
        return await read_json_body(request.receive, request.headers.get("content-length"), LIMITS)
    except BodyError as e:
        # Not `Connection: close` on a 413: closing with the body still coming resets the connection, and the
        # client may lose the answer. uvicorn discards the rest of the body instead, holding none of it.
        raise ApiError(e.status, str(e), code=e.code) from e


def _fits_at_all(service: Service, *texts: str) -> None:
    n_ctx = service.runtime.n_ctx_seq
    least = service.tokenizer.least_tokens(*texts)
    if least >= n_ctx:
        raise ApiError(
            400,
            f"the prompt is at least {least} tokens; this server's context is {n_ctx} tokens per request (--ctx)",
            code="context_length_exceeded",
        )


async def _off_loop_if_long(
    size: int, tokenize: Callable[P, list[int]], *args: P.args, **kwargs: P.kwargs
) -> list[int]:
    if size < 16_384:
        return tokenize(*args, **kwargs)
    # A long prompt takes a while to tokenize: off the event loop, which keeps streaming meanwhile.
    return await asyncio.to_thread(tokenize, *args, **kwargs)


def _parse(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_request")
    try:
        return model.model_validate(body)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors(include_url=False)
        )
        raise ApiError(400, f"invalid request: {problems}", code="invalid_request") from e


async def _generate(
    service: Service,
    request: Request,
    req: ChatCompletionRequest | CompletionRequest,
    prompt: list[int],
    max_tokens: int | None,
    *,
    chat: bool,
) -> Response:
    n_ctx = service.runtime.n_ctx_seq
    if req.n != 1:
        raise ApiError(400, "n > 1 is not supported: send several requests (they run in parallel)", code="unsupported")
    if not prompt:
        raise ApiError(400, "the prompt is empty", code="empty_prompt")
    if len(prompt) >= n_ctx:
        raise ApiError(
            400,
            f"the prompt is {len(prompt)} tokens; this server's context is {n_ctx} tokens per request (--ctx)",
            code="context_length_exceeded",
        )
    if max_tokens is not None and max_tokens > n_ctx:
        message = f"max_tokens {max_tokens} is over the context of {n_ctx} tokens per request"
        raise ApiError(400, message, code="max_tokens_too_large")
    try:
        grammar = grammar_for(req.response_format, req.grammar)
        if grammar is not None:
            check_grammar(service.runtime.vocab, grammar)
    except GrammarError as e:
        raise ApiError(400, str(e), code="invalid_grammar") from e
    params = SamplingParams(
        max_tokens=max_tokens or n_ctx - len(prompt),
        temperature=req.temperature,
        top_p=req.top_p,
        seed=req.seed,
        stop=req.stops(),
        ignore_eos=req.ignore_eos,
        logit_bias=tuple((req.logit_bias or {}).items()),
        repeat_penalty=req.repeat_penalty,
        frequency_penalty=req.frequency_penalty,
        presence_penalty=req.presence_penalty,
        repeat_last_n=req.repeat_last_n,
        grammar=grammar,
        grammar_first=req.grammar_first,
        name_guard=req.name_guard,
        version_guard=req.version_guard,
        version_guard_keywords=req.version_guard_keywords,
        cache_prompt=req.cache_prompt,
        stop_repeats=req.stop_repeats,
    )
    stream = Stream(len(prompt), live=req.stream)
    try:
        service.engine.submit(prompt, params, stream)
    except BusyError as e:
        error = ApiError(503, f"server busy: {e}", type="server_busy", code="server_busy")
        error.headers["Retry-After"] = "1"
        raise error from e
    reply = Reply(service.model_id, chat=chat)
    if req.stream:
        usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(
            sse_events(stream, reply, usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    text = await _until_done_or_gone(request, stream)
    if text is None:
        return Response(status_code=499)  # nobody is listening; uvicorn drops it
    if stream.error is not None:
        raise ApiError(500, stream.error, type="server_error", code="generation_failed")
    return JSONResponse(reply.whole(text, stream))


async def _until_done_or_gone(request: Request, stream: Stream) -> str | None:
    """The whole answer, or None when the client hung up first (its request is cancelled, freeing the slot)."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    done = asyncio.ensure_future(stream.wait())
    watch = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({done, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not done.done():
            done.cancel()
            stream.cancel()
    # cancel() only asks: the task is marked cancelled at its next step, so "not done" is what says they left.
    return done.result() if done.done() and not done.cancelled() else None
