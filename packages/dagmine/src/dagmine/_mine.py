"""The miner: list every Python file of every ref, judge each distinct content once, merge into records."""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from dagcore import AirflowVersion
from dagmine._analyze import NEVER_NAMES_DAG, Excluded, Kept, Verdict, decode, judge_batch
from dagmine.exceptions import RefError
from dagmine.models import DagRecord, Exclusion, ExclusionReason, MineConfig, MineStats, Occurrence, Ref, RefStats
from dagmine.sources import Entry, Source

Progress = Callable[[str, int, int], None]
"""Called as `progress(stage, done, total)`; stages are `list`, `read`, `parse`."""

_BATCH = 24
# Below this many files a process pool costs more than it saves.
_POOL_THRESHOLD = 200


@dataclass
class MineResult:
    refs: list[Ref]
    records: list[DagRecord]
    exclusions: list[Exclusion]
    stats: MineStats
    occurrences: dict[str, list[Entry]] = field(default_factory=dict, repr=False)


class Miner:
    """Mine one source. `run()` returns every record with its exclusions and counts."""

    def __init__(
        self,
        source: Source,
        *,
        refs: Sequence[str] | None = None,
        tag_pattern: str | None = None,
        config: MineConfig | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.config = config or MineConfig()
        self.progress = progress or (lambda stage, done, total: None)
        self.refs = source.resolve(refs, tag_pattern)

    def run(self) -> MineResult:
        occurrences: dict[str, list[Entry]] = defaultdict(list)
        sizes: dict[str, int] = {}
        for i, ref in enumerate(self.refs, start=1):
            for entry in self.source.entries([ref]):
                occurrences[entry.key].append(entry)
                sizes[entry.key] = entry.size
            self.progress("list", i, len(self.refs))
        if not occurrences:
            names = ", ".join(r.name for r in self.refs[:5])
            raise RefError(f"no Python file at {names}{'...' if len(self.refs) > 5 else ''} in {self.source.location}")

        verdicts: dict[str, Verdict] = {}
        to_read = []
        for key, size in sizes.items():
            if size > self.config.max_bytes:
                verdicts[key] = Excluded(key, ExclusionReason.TOO_LARGE, f"{size} bytes")
            else:
                to_read.append(key)
        jobs = self.config.jobs or os.cpu_count() or 1
        if jobs == 1 or len(to_read) < _POOL_THRESHOLD:
            verdicts.update((v.key, v) for v in self._judge_inline(to_read))
        else:
            verdicts.update((v.key, v) for v in self._judge_pooled(to_read, jobs))
        return self._assemble(occurrences, verdicts)

    def _candidates(self, keys: list[str], verdicts: list[Verdict]) -> Iterator[tuple[str, str]]:
        """Read each key; bytes that cannot be a DAG file get their verdict here, the rest are yielded."""
        for done, (key, data) in enumerate(self.source.read(keys), start=1):
            decoded = decode(key, data)
            if isinstance(decoded, Excluded):
                verdicts.append(decoded)
            else:
                yield key, decoded
            if done % 2000 == 0 or done == len(keys):
                self.progress("read", done, len(keys))

    def _judge_inline(self, keys: list[str]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        batch: list[tuple[str, str]] = []
        for candidate in self._candidates(keys, verdicts):
            batch.append(candidate)
        for i, candidate in enumerate(batch, start=1):
            verdicts.extend(judge_batch([candidate], self.config.clean, self.config.recover))
            if i % _BATCH == 0 or i == len(batch):
                self.progress("parse", i, len(batch))
        return verdicts

    def _judge_pooled(self, keys: list[str], jobs: int) -> list[Verdict]:
        # fork: workers inherit the imported modules instead of importing libcst again. They are started
        # before git's reader process exists, so they hold none of its pipes open.
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        verdicts: list[Verdict] = []
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for warm in [pool.submit(os.getpid) for _ in range(jobs)]:
                warm.result()
            futures: list[Future[list[Verdict]]] = []
            batch: list[tuple[str, str]] = []
            # Parsing starts while git still streams blobs: reading and parsing overlap.
            for candidate in self._candidates(keys, verdicts):
                batch.append(candidate)
                if len(batch) == _BATCH:
                    futures.append(pool.submit(judge_batch, batch, self.config.clean, self.config.recover))
                    batch = []
            if batch:
                futures.append(pool.submit(judge_batch, batch, self.config.clean, self.config.recover))
            total = len(futures) * _BATCH - (_BATCH - len(batch) if batch else 0)
            done = 0
            for future in as_completed(futures):
                results = future.result()
                verdicts.extend(results)
                done += len(results)
                self.progress("parse", min(done, total), total)
        return verdicts

    def _assemble(self, occurrences: dict[str, list[Entry]], verdicts: dict[str, Verdict]) -> MineResult:
        order = {ref.name: i for i, ref in enumerate(self.refs)}
        versions = {ref.name: ref.airflow_version for ref in self.refs}
        stats = MineStats(refs=len(self.refs), distinct_blobs=len(occurrences))
        per_ref = {ref.name: RefStats() for ref in self.refs}
        by_record: dict[str, list[Kept]] = defaultdict(list)
        exclusions: list[Exclusion] = []
        for key, entries in occurrences.items():
            verdict = verdicts[key]
            stats.files += len(entries)
            for entry in entries:
                ref_stats = per_ref[entry.ref]
                ref_stats.files += 1
                if isinstance(verdict, Kept):
                    ref_stats.kept += 1
                else:
                    ref_stats.excluded[verdict.reason] = ref_stats.excluded.get(verdict.reason, 0) + 1
            if isinstance(verdict, Kept):
                by_record[verdict.record_id].append(verdict)
                continue
            stats.excluded[verdict.reason] = stats.excluded.get(verdict.reason, 0) + 1
            if verdict.reason is not ExclusionReason.NOT_DAG or verdict.detail != NEVER_NAMES_DAG:
                paths = sorted({e.path for e in entries})
                exclusions.append(Exclusion(blob=key, reason=verdict.reason, detail=verdict.detail, paths=paths))
        stats.kept_blobs = sum(len(v) for v in by_record.values())
        stats.dag_files = (
            stats.kept_blobs
            + stats.excluded.get(ExclusionReason.TEST_INTERNALS, 0)
            + stats.excluded.get(ExclusionReason.CLEAN_ERROR, 0)
        )
        records = [self._record(kept, occurrences, order, versions) for kept in by_record.values()]
        records.sort(key=lambda r: (order[r.refs[0]], r.paths[0], r.id))
        stats.records = len(records)
        stats.per_ref = per_ref
        stats.excluded = dict(sorted(stats.excluded.items()))
        exclusions.sort(key=lambda x: (x.reason, x.paths[:1], x.blob))
        return MineResult(self.refs, records, exclusions, stats, dict(occurrences))

    @staticmethod
    def _record(
        kept: list[Kept],
        occurrences: dict[str, list[Entry]],
        order: dict[str, int],
        versions: dict[str, AirflowVersion | None],
    ) -> DagRecord:
        seen = sorted(
            (Occurrence(ref=e.ref, path=e.path, blob=k.key) for k in kept for e in occurrences[k.key]),
            key=lambda o: (order[o.ref], o.path),
        )
        latest = seen[-1].blob
        newest = next(k for k in kept if k.key == latest)
        refs = list(dict.fromkeys(o.ref for o in seen))
        airflow_versions = list(dict.fromkeys(v for r in refs if (v := versions[r]) is not None))
        return DagRecord(
            id=newest.record_id,
            code=newest.code,
            original_code=newest.original,
            cleaning=list(newest.steps),
            refs=refs,
            airflow_versions=airflow_versions,
            # No ref names a version (a branch, a sha, a folder without one): the version is unknown, not a name.
            first_version=airflow_versions[0] if airflow_versions else None,
            last_version=airflow_versions[-1] if airflow_versions else None,
            paths=sorted({o.path for o in seen}),
            occurrences=seen,
            **newest.info.model_dump(),
        )
