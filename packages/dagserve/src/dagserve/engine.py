"""Continuous batching: one thread owns the llama.cpp context and decodes every running request together.

Each step the engine (a) admits waiting requests into free slots, (b) builds one batch with the next token of
every running sequence plus a chunk of prompt for those still prefilling, (c) calls `llama_decode` once, and
(d) samples each sequence with its own sampler chain, straight from the context's logits. Text goes to the
requests' `Stream`s in one hand-over to the event loop per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import llama_cpp

from dagcore.modules import SeriesTable
from dagserve._grammar import GuidedSampler
from dagserve._llama import LlamaRuntime
from dagserve._loops import looping
from dagserve._names import NameGuard
from dagserve._stream import Stream
from dagserve._text import TextTail
from dagserve._version_guard import Guard, Guards, VersionGuard
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
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repeat_last_n: int = 64
    grammar: str | None = None
    """GBNF the text is decoded under (already parsed once by the caller: `dagserve._grammar.check_grammar`)."""
    grammar_first: bool = False
    """Mask every pick with the grammar (exact constrained sampling), not only picks the grammar refuses."""
    name_guard: bool = False
    """The answer's Python code may load, where it runs at import, only names it has defined (`dagserve._names`)."""
    version_guard: str | None = None
    """The Airflow version whose modules, names and trigger rules the answer's code must use
    (`dagserve._version_guard`); None checks none."""
    version_guard_keywords: bool = True
    """With `version_guard`: the keyword arguments given to Airflow's classes too."""
    cache_prompt: bool = True
    """Start from the longest prefix of the prompt the slot holds (False: evaluate it all, for reproducible answers)."""
    stop_repeats: int | None = None
    """End the answer as cut (`length`) once its last tokens are one block written this many times
    (`dagserve._loops.looping`); 0 never does, None takes the server's setting."""


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
        self.guided: GuidedSampler | None = None
        """For a request under a grammar: samples with `sampler` and the grammar (`sampler` is its chain)."""
        self.kv: list[int] = []
        """The tokens whose keys and values the sequence holds, by position; kept after a request ends, so
        the next prompt that starts the same way (a shared system prompt, a repair turn) skips that part."""
        self.n_past = 0
        self.decoding = False
        self.last = 0
        self.generated = 0
        self.out: list[int] = []
        """The tokens sampled so far, kept only when loops are looked for."""
        self.text = TextTail()
        self.pending: list[str] = []
        """Text made but not yet handed to the event loop."""
        self.sent_at = 0.0


class Engine:
    """Serves requests on one runtime; `submit` from the event loop, everything else in the engine thread."""

    def __init__(
        self,
        runtime: LlamaRuntime,
        *,
        queue_size: int,
        prefill_chunk: int = 256,
        stream_interval: float = 0.02,
        stop_repeats: int = 0,
    ) -> None:
        self.rt = runtime
        self.stop_repeats = stop_repeats
        """For requests that do not say: end an answer caught in a loop (`SamplingParams.stop_repeats`)."""
        self.stream_interval = stream_interval
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
        self.counters = {"completed": 0, "cancelled": 0, "failed": 0, "generated_tokens": 0, "cached_prompt_tokens": 0}
        self.counters |= {"grammar_refused_tokens": 0, "names_refused_tokens": 0, "grammar_stalls": 0}
        self.counters |= {"loops_stopped": 0}
        """Since start: requests finished, dropped because their client left, failed; tokens sampled; prompt
        tokens not computed again because a slot still held them; tokens a grammar (or a name guard) refused, so
        their pick was redone; of those, tokens the name guard refused; answers cut because the grammar's parse
        stacks exploded (`GuidedSampler.stalled`); answers ended because they looped."""

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
            self._free_samplers(slot)
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
            slot = self._pick(free, job.prompt)
            free.remove(slot)
            slot.job = job  # reserved under the lock, so stats() sees it busy
            taken.append((slot, job))
        return taken

    def _pick(self, free: list[_Slot], prompt: list[int]) -> _Slot:
        """The lowest free slot, unless another one already holds much of this prompt.

        Without a unified KV cache llama.cpp decodes only sequences with consecutive ids in one ubatch: a gap
        among the busy slots costs an extra pass over the weights at every step, for as long as it lasts.
        Skipping a cached prefix saves one prefill, so it must be worth it.
        """
        lowest = free[0]
        best = max(free, key=lambda s: _common_prefix(s.kv, prompt))
        saved = _common_prefix(best.kv, prompt) - _common_prefix(lowest.kv, prompt)
        return best if saved >= max(64, len(prompt) // 2) else lowest

    def _start(self, slot: _Slot, job: _Job) -> None:
        slot.sampler = self._make_sampler(job.params)
        guard = _guard(job.params)
        if job.params.grammar is not None or guard is not None:
            slot.guided = GuidedSampler(
                self.rt.vocab,
                self.rt.n_vocab,
                slot.sampler,
                job.params.grammar,
                first=job.params.grammar_first,
                guard=guard,
                piece=self._piece,
                greedy=_plain_greedy(job.params),
            )
        # The last prompt token is always decoded again: its logits give the first sampled token.
        common = min(_common_prefix(slot.kv, job.prompt), len(job.prompt) - 1) if job.params.cache_prompt else 0
        if common < len(slot.kv) and not llama_cpp.llama_memory_seq_rm(self.rt.memory, slot.seq, common, -1):
            llama_cpp.llama_memory_seq_rm(self.rt.memory, slot.seq, -1, -1)  # this memory cannot cut: start over
            common = 0
        del slot.kv[common:]
        slot.n_past = common
        self.counters["cached_prompt_tokens"] += common
        slot.decoding = False
        slot.generated = 0
        slot.out = []
        slot.text = TextTail(job.params.stop)
        slot.pending = []
        slot.sent_at = 0.0
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
        if _penalised(p):
            # Small models decoded greedily fall into loops; penalties on recent tokens are the usual cure.
            penalties = llama_cpp.llama_sampler_init_penalties(
                self.rt.n_vocab, p.repeat_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty
            )
            llama_cpp.llama_sampler_chain_add(chain, penalties)
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
        fed: list[tuple[_Slot, list[int]]] = []
        # Sequences in id order: llama.cpp puts consecutive ids into one ubatch and splits the batch elsewhere.
        for slot in self._slots:
            if slot.job is not None and slot.decoding:
                token[n], pos[n], n_seq_id[n], logits[n] = slot.last, slot.n_past, 1, 1
                seq_ptrs[n][0] = slot.seq
                outputs.append((slot, n))
                fed.append((slot, [slot.last]))
                n += 1
        # While others decode, prompts go in smaller chunks: a long prompt must not stall running streams.
        budget = min(self.n_batch - n, self.prefill_chunk) if n else self.n_batch
        for slot in self._order:
            if slot.decoding or budget <= 0:
                continue
            assert slot.job is not None
            prompt = slot.job.prompt
            start = slot.n_past
            chunk = prompt[start : start + budget]
            for j, tok in enumerate(chunk):
                token[n + j], pos[n + j], n_seq_id[n + j], logits[n + j] = tok, start + j, 1, 0
                seq_ptrs[n + j][0] = slot.seq
            n += len(chunk)
            budget -= len(chunk)
            fed.append((slot, chunk))
            if start + len(chunk) == len(prompt):
                logits[n - 1] = 1
                outputs.append((slot, n - 1))
        batch.n_tokens = n
        rc = llama_cpp.llama_decode(self.rt.ctx, batch)
        if rc != 0:
            for slot, _ in fed:
                self._finish(slot, updates, None, error=f"llama_decode failed ({rc})")
            return
        for slot, tokens in fed:
            slot.n_past += len(tokens)
            slot.kv += tokens
        sample, ctx = llama_cpp.llama_sampler_sample, self.rt.ctx
        now = time.perf_counter()
        for slot, idx in outputs:
            slot.decoding = True
            token = slot.guided.sample(ctx, idx) if slot.guided else sample(slot.sampler, ctx, idx)
            self._accept(slot, token, updates, now)

    def _accept(self, slot: _Slot, tok: int, updates: list[_Update], now: float) -> None:
        job = slot.job
        assert job is not None
        p = job.params
        slot.generated += 1
        if tok in self.rt.eog and not p.ignore_eos:
            self._finish(slot, updates, "stop")
            return
        piece = self._piece(tok)
        text, stopped = slot.text.push(piece)
        if stopped:
            self._finish(slot, updates, "stop", text=text, flush=False)
            return
        if slot.generated >= p.max_tokens or slot.n_past >= self.rt.n_ctx_seq:
            self._finish(slot, updates, "length", text=text)
            return
        if slot.guided is not None and slot.guided.stalled:
            self.counters["grammar_stalls"] += 1  # cut as at max_tokens: the next accept would take longer still
            self._finish(slot, updates, "length", text=text)
            return
        repeats = self.stop_repeats if p.stop_repeats is None else p.stop_repeats
        if repeats:
            slot.out.append(tok)
            if looping(slot.out, repeats):
                # It would have written the block until max_tokens: the answer is cut either way, only sooner.
                self.counters["loops_stopped"] += 1
                self._finish(slot, updates, "length", text=text)
                return
        slot.last = tok
        if text:
            slot.pending.append(text)
            # Streams get their first text at once, then at most every `stream_interval`: each hand-over
            # costs the event loop and the client a wake-up. Non-streamed requests get theirs at the end.
            if job.stream.live and (not slot.sent_at or now - slot.sent_at >= self.stream_interval):
                updates.append((job.stream, "".join(slot.pending), slot.generated, None, None))
                slot.pending.clear()
                slot.sent_at = now

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
        if error is None:
            text = "".join(slot.pending) + text + (slot.text.flush() if flush else "")
        updates.append((slot.job.stream, text, slot.generated, reason, error))
        self.counters["failed" if error else "completed"] += 1
        self.counters["generated_tokens"] += slot.generated
        self._release(slot, keep_kv=error is None)  # after an error the sequence's cache is not trusted

    def _piece(self, tok: int) -> bytes:
        piece = self._pieces.get(tok)
        if piece is None:
            piece = self._pieces[tok] = self.rt.piece(tok)
        return piece

    def _release(self, slot: _Slot, *, keep_kv: bool = True) -> None:
        if not keep_kv:
            llama_cpp.llama_memory_seq_rm(self.rt.memory, slot.seq, -1, -1)
            slot.kv.clear()
        self._free_samplers(slot)
        self._order.remove(slot)
        with self._cv:
            slot.job = None
            self._in_flight -= 1

    def _free_samplers(self, slot: _Slot) -> None:
        if slot.guided:
            self.counters["grammar_refused_tokens"] += slot.guided.refused
            self.counters["names_refused_tokens"] += slot.guided.refused_names
            slot.guided.free()
            slot.guided = None
        if slot.sampler:
            llama_cpp.llama_sampler_free(slot.sampler)
            slot.sampler = None

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


def _common_prefix(a: list[int], b: list[int]) -> int:
    n, end = 0, min(len(a), len(b))
    while n + 64 <= end and a[n : n + 64] == b[n : n + 64]:
        n += 64
    while n < end and a[n] == b[n]:
        n += 1
    return n


def _feed_all(updates: list[_Update]) -> None:
    for stream, text, n_tokens, reason, error in updates:
        stream.feed(text, n_tokens, reason, error)


def _penalised(p: SamplingParams) -> bool:
    return p.repeat_penalty != 1.0 or bool(p.frequency_penalty) or bool(p.presence_penalty)


def _plain_greedy(p: SamplingParams) -> bool:
    """`_make_sampler`'s chain picks the best raw logit: greedy, with no logit bias and no penalty."""
    return p.temperature <= 0 and not p.logit_bias and not p.ignore_eos and not _penalised(p)


def _guard(params: SamplingParams) -> Guard | None:
    """The monitors a request's code is decoded under: the name guard, the version guard, both or none."""
    guards: list[Guard] = [NameGuard()] if params.name_guard else []
    table = SeriesTable.for_version(params.version_guard) if params.version_guard else None
    if table is not None:
        guards.append(VersionGuard(table, keywords=params.version_guard_keywords))
    return None if not guards else guards[0] if len(guards) == 1 else Guards(guards)
