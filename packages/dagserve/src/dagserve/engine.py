"""Continuous batching: one thread owns the llama.cpp context and decodes every running request together.

Each step the engine (a) admits waiting requests into free slots, (b) builds one batch with the next token of
every running sequence plus a chunk of prompt for those still prefilling, (c) calls `llama_decode` once, and
(d) samples each sequence with its own sampler chain, straight from the context's logits. Text goes to the
requests' `Stream`s in one hand-over to the event loop per step.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import llama_cpp

from dagserve._llama import LlamaRuntime
from dagserve._stream import Stream
from dagserve.exceptions import BusyError

_Update = tuple[Stream, str, int, str | None, str | None]


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples and when it stops."""

    max_tokens: int
    temperature: float = 0.0
    """0 is greedy."""
    top_p: float = 1.0
    seed: int | None = None
    """None draws a random seed."""
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    """Bias end-of-generation tokens away, so the request runs to `max_tokens` (benchmarks)."""
    logit_bias: tuple[tuple[int, float], ...] = ()


@dataclass
class _Job:
    prompt: list[int]
    params: SamplingParams
    stream: Stream


class _Slot:
    """One sequence of the context (its seq_id) and the request decoding in it."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.job: _Job | None = None
        self.sampler: Any = None
        self.n_past = 0
        self.decoding = False
        self.last = 0
        self.generated = 0
        self.decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.held = ""
        """Text that could be the start of a stop string, kept back until it is known not to be."""


class Engine:
    """Serves requests on one runtime; `submit` from the event loop, everything else in the engine thread."""

    def __init__(self, runtime: LlamaRuntime, *, queue_size: int, prefill_chunk: int = 256) -> None:
        self.rt = runtime
        self.queue_size = queue_size
        self.n_batch = max(runtime.n_batch, runtime.n_seq_max)
        self.prefill_chunk = max(1, min(prefill_chunk, self.n_batch))
        self._slots = [_Slot(i) for i in range(runtime.n_seq_max)]
        self._waiting: deque[_Job] = deque()
        self._in_flight = 0
        self._order: list[_Slot] = []
        """Busy slots in admission order: prompts prefill first come, first served."""
        self._cv = threading.Condition()
        self._closing = False
        self.failure: str | None = None
        """Why the engine thread died, if it did; the server then refuses new work."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._seq_ptrs = [self._batch.seq_id[i] for i in range(self.n_batch)]
        self._pieces: dict[int, bytes] = {}
        self.counters = {"completed": 0, "cancelled": 0, "failed": 0, "generated_tokens": 0}
        """Since start: requests finished, dropped because their client left, failed; tokens sampled."""

    # -- event loop side ------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="dagserve-engine", daemon=True)
        self._thread.start()

    def submit(self, prompt: list[int], params: SamplingParams, stream: Stream) -> None:
        """Queue a request; raises BusyError when every slot is busy and the queue is full."""
        with self._cv:
            if self.failure is not None:
                raise BusyError(f"the engine stopped: {self.failure}")
            if self._closing:
                raise BusyError("the server is shutting down")
            if self._in_flight >= len(self._slots) + self.queue_size:
                self._purge_cancelled()
            if self._in_flight >= len(self._slots) + self.queue_size:
                raise BusyError(f"all {len(self._slots)} slots are busy and {self.queue_size} requests are waiting")
            self._in_flight += 1
            self._waiting.append(_Job(prompt, params, stream))
            self._cv.notify()

    def _purge_cancelled(self) -> None:
        kept = [job for job in self._waiting if not job.stream.cancelled]
        self._in_flight -= len(self._waiting) - len(kept)
        self.counters["cancelled"] += len(self._waiting) - len(kept)
        self._waiting = deque(kept)

    def stats(self) -> dict[str, int]:
        with self._cv:
            busy = sum(1 for s in self._slots if s.job is not None)
            return {"slots": len(self._slots), "slots_busy": busy, "queued": len(self._waiting), **self.counters}

    def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join()
        for slot in self._slots:
            if slot.sampler:
                llama_cpp.llama_sampler_free(slot.sampler)
                slot.sampler = None
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None

    # -- engine thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    while not self._closing and not self._waiting and not self._order:
                        self._cv.wait()
                    if self._closing:
                        break
                    admitted = self._take_waiting()
                for slot, job in admitted:
                    self._start(slot, job)
                updates: list[_Update] = []
                self._drop_cancelled()
                if self._order:
                    self._step(updates)
                if updates:
                    self._deliver(updates)
        except BaseException as e:  # a dead engine must not leave clients waiting forever
            with self._cv:
                self.failure = repr(e)
            self._fail_everything(f"engine failed: {e!r}")
            raise
        self._fail_everything("the server is shutting down")

    def _take_waiting(self) -> list[tuple[_Slot, _Job]]:
        free = [s for s in self._slots if s.job is None]
        taken: list[tuple[_Slot, _Job]] = []
        while free and self._waiting:
            job = self._waiting.popleft()
            if job.stream.cancelled:
                self._in_flight -= 1
                self.counters["cancelled"] += 1
                continue
            slot = free.pop(0)
            slot.job = job  # reserved under the lock, so stats() sees it busy
            taken.append((slot, job))
        return taken

    def _start(self, slot: _Slot, job: _Job) -> None:
        slot.sampler = self._make_sampler(job.params)
        slot.n_past = 0
        slot.decoding = False
        slot.generated = 0
        slot.decoder.reset()
        slot.held = ""
        self._order.append(slot)

    def _make_sampler(self, p: SamplingParams) -> Any:
        params = llama_cpp.llama_sampler_chain_default_params()
        params.no_perf = True
        chain = llama_cpp.llama_sampler_chain_init(params)
        bias = dict(p.logit_bias)
        if p.ignore_eos:
            bias.update(dict.fromkeys(self.rt.eog, float("-inf")))
        if bias:
            arr = (llama_cpp.llama_logit_bias * len(bias))()
            for i, (token, value) in enumerate(bias.items()):
                arr[i] = llama_cpp.llama_logit_bias(token, value)
            biased = llama_cpp.llama_sampler_init_logit_bias(self.rt.n_vocab, len(bias), arr)
            llama_cpp.llama_sampler_chain_add(chain, biased)
        if p.temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            if p.top_p < 1.0:
                llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(p.top_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(p.temperature))
            seed = p.seed if p.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _drop_cancelled(self) -> None:
        for slot in [s for s in self._order if s.job is not None and s.job.stream.cancelled]:
            self.counters["cancelled"] += 1
            self._release(slot)

    def _step(self, updates: list[_Update]) -> None:
        batch = self._batch
        token, pos, n_seq_id, logits, seq_ptrs = batch.token, batch.pos, batch.n_seq_id, batch.logits, self._seq_ptrs
        n = 0
        outputs: list[tuple[_Slot, int]] = []
        fed: list[tuple[_Slot, int]] = []
        for slot in self._order:
            if slot.decoding:
                token[n], pos[n], n_seq_id[n], logits[n] = slot.last, slot.n_past, 1, 1
                seq_ptrs[n][0] = slot.seq
                outputs.append((slot, n))
                fed.append((slot, 1))
                n += 1
        # While others decode, prompts go in smaller chunks: a long prompt must not stall running streams.
        budget = min(self.n_batch - n, self.prefill_chunk) if n else self.n_batch
        for slot in self._order:
            if slot.decoding or budget <= 0:
                continue
            assert slot.job is not None
            prompt = slot.job.prompt
            start = slot.n_past
            take = min(budget, len(prompt) - start)
            for j in range(take):
                token[n + j], pos[n + j], n_seq_id[n + j], logits[n + j] = prompt[start + j], start + j, 1, 0
                seq_ptrs[n + j][0] = slot.seq
            n += take
            budget -= take
            fed.append((slot, take))
            if slot.n_past + take == len(prompt):
                logits[n - 1] = 1
                outputs.append((slot, n - 1))
        batch.n_tokens = n
        rc = llama_cpp.llama_decode(self.rt.ctx, batch)
        if rc != 0:
            for slot, _ in fed:
                self._finish(slot, updates, None, error=f"llama_decode failed ({rc})")
            return
        for slot, count in fed:
            slot.n_past += count
        sample, ctx = llama_cpp.llama_sampler_sample, self.rt.ctx
        for slot, idx in outputs:
            slot.decoding = True
            self._accept(slot, sample(slot.sampler, ctx, idx), updates)

    def _accept(self, slot: _Slot, tok: int, updates: list[_Update]) -> None:
        job = slot.job
        assert job is not None
        p = job.params
        slot.generated += 1
        if tok in self.rt.eog and not p.ignore_eos:
            self._finish(slot, updates, "stop")
            return
        piece = self._pieces.get(tok)
        if piece is None:
            piece = self._pieces[tok] = self.rt.piece(tok)
        text = slot.decoder.decode(piece)
        if p.stop:
            text, hit = _scan_stops(slot, text, p.stop)
            if hit:
                self._finish(slot, updates, "stop", text=text, flush=False)
                return
        if slot.generated >= p.max_tokens or slot.n_past >= self.rt.n_ctx_seq:
            self._finish(slot, updates, "length", text=text)
            return
        slot.last = tok
        if text:
            updates.append((job.stream, text, slot.generated, None, None))

    def _finish(
        self,
        slot: _Slot,
        updates: list[_Update],
        reason: str | None,
        *,
        text: str = "",
        error: str | None = None,
        flush: bool = True,
    ) -> None:
        """End the request in `slot`; `flush` emits what was held back (not after a stop string: it follows it)."""
        assert slot.job is not None
        if error is None and flush:
            text += slot.held + slot.decoder.decode(b"", final=True)
        updates.append((slot.job.stream, text, slot.generated, reason, error))
        self.counters["failed" if error else "completed"] += 1
        self.counters["generated_tokens"] += slot.generated
        self._release(slot)

    def _release(self, slot: _Slot) -> None:
        llama_cpp.llama_memory_seq_rm(self.rt.memory, slot.seq, -1, -1)
        if slot.sampler:
            llama_cpp.llama_sampler_free(slot.sampler)
            slot.sampler = None
        self._order.remove(slot)
        with self._cv:
            slot.job = None
            self._in_flight -= 1

    def _deliver(self, updates: list[_Update]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed since the check: nobody is listening
            loop.call_soon_threadsafe(_feed_all, updates)

    def _fail_everything(self, message: str) -> None:
        updates: list[_Update] = []
        for slot in list(self._order):
            if slot.job is not None:
                self._finish(slot, updates, None, error=message)
        with self._cv:
            while self._waiting:
                job = self._waiting.popleft()
                self._in_flight -= 1
                updates.append((job.stream, "", 0, None, message))
        if updates:
            self._deliver(updates)


def _feed_all(updates: list[_Update]) -> None:
    for stream, text, n_tokens, reason, error in updates:
        stream.feed(text, n_tokens, reason, error)


def _scan_stops(slot: _Slot, text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Text safe to emit now, and whether a stop string ended the request (the text before it is emitted)."""
    held = slot.held + text
    first = min((i for i in (held.find(s) for s in stops) if i >= 0), default=-1)
    if first >= 0:
        slot.held = ""
        return held[:first], True
    keep = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(held)), keep, -1):
            if held.endswith(stop[:k]):
                keep = k
                break
    slot.held = held[len(held) - keep :] if keep else ""
    return held[: len(held) - keep], False
