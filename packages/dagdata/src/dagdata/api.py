"""`build_dataset()`: DAG records + requests -> filtered, deduplicated, leak-free train/test sets and a card."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import random
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagcore import AirflowVersion, Judgement, PromptContract, feedback, is_test_internal, series
from dagdata._card import card, plots
from dagdata._dedup import (
    UnionFind,
    max_cross_similarity,
    near_duplicate_clusters,
    normalized_hash,
    signatures,
)
from dagdata._leaks import closest
from dagdata._tokens import count_tokens, load_tokenizer
from dagdata.exceptions import InputError
from dagdata.inputs import MinedDag, Request
from dagdata.models import Conversation, DatasetConfig, DatasetSummary, FilterCounts

Progress = Callable[[str, int, int], None]
MANIFEST = "manifest.json"


def _file(path: str | Path, default_name: str) -> Path:
    file = Path(path)
    if file.is_dir():
        file = file / default_name
    if not file.is_file():
        raise InputError(f"{file} does not exist")
    return file


def _composed_dags(paths: str | Path | Sequence[str | Path] | None) -> list[Path]:
    """Each composed folder's `dags.jsonl` (one folder, or several), in the order given."""
    if paths is None:
        return []
    found = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return [_file(path, "dags.jsonl") for path in found]


def _read_jsonl(file: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{file}:{number}: not JSON ({e.msg})") from e
    return rows


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tokenizer_identity(name: str) -> str:
    folder = Path(name)
    if folder.is_dir():
        digest = hashlib.sha256()
        for file in sorted(folder.glob("*.json")) + sorted(folder.glob("*.model")) + sorted(folder.glob("*.txt")):
            digest.update(file.name.encode() + file.read_bytes())
        return digest.hexdigest()
    return name


def _fingerprint(files: Sequence[Path | None], config: DatasetConfig) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update((_sha256(file) if file else "-").encode())
    digest.update(config.model_dump_json().encode())
    digest.update(_tokenizer_identity(config.tokenizer).encode())
    digest.update(importlib.metadata.version("dagdata").encode())
    return digest.hexdigest()


def _join(
    dags: dict[str, MinedDag],
    instructions: Sequence[Request],
    config: DatasetConfig,
    counts: FilterCounts,
    source: str = "airflow",
) -> list[Conversation]:
    conversations: list[Conversation] = []
    for instruction in instructions:
        dag = dags.get(instruction.dag_id)
        if dag is None:
            counts.missing_dag += 1
            continue
        version = instruction.airflow_version or dag.last_version
        conversations.append(
            Conversation(
                id=hashlib.sha256(f"{dag.id}\0{instruction.custom_id}".encode()).hexdigest()[:16],
                dag_id=dag.id,
                instruction_id=instruction.custom_id,
                style=instruction.style,
                airflow_version=version,
                request=instruction.text.strip(),
                messages=_messages(config.contract, instruction, version, dag.code),
                paths=dag.paths,
                operators=dag.operators,
                contract_version=config.contract.version,
                source=source,
            )
        )
    counts.joined += len(conversations)
    return conversations


def _messages(
    contract: PromptContract, request: Request, version: AirflowVersion | None, code: str
) -> list[dict[str, str]]:
    """The conversation: the request and the file; for a repair lesson, the broken answer and the judge's words
    come between them, as the repair loop sends them (the loss stays on the last answer only)."""
    if request.repair is None:
        return contract.messages(request.text, version, code)
    lesson = request.repair
    verdict = Judgement(ok=False, level=lesson.level, category=lesson.category, message=lesson.message)
    return [
        *contract.messages(request.text, version),
        *feedback(contract.answer(lesson.code), verdict),
        contract.messages(request.text, version, code)[-1],
    ]


def _groups(dags: Sequence[MinedDag], clusters: Sequence[int]) -> dict[str, str]:
    """Split group per DAG: same path at any version (lineage) or near duplicate -> same group."""
    index = {d.id: i for i, d in enumerate(dags)}
    union = UnionFind(len(dags))
    by_path: dict[str, int] = {}
    for i, dag in enumerate(dags):
        for path in dag.paths:
            if path in by_path:
                union.union(by_path[path], i)
            else:
                by_path[path] = i
        union.union(i, clusters[i])
    return {dag.id: dags[union.find(index[dag.id])].id for dag in dags}


def _keep_newest(dags: Sequence[MinedDag], clusters: Sequence[int]) -> set[str]:
    """Per near-duplicate cluster and Airflow major version, the DAG of the newest version."""
    best: dict[tuple[int, str], MinedDag] = {}
    for dag, cluster in zip(dags, clusters, strict=True):
        key = (cluster, str(dag.last_version.major) if dag.last_version else "?")
        current = best.get(key)
        if current is None or _newer(dag.last_version, current.last_version):
            best[key] = dag
    return {dag.id for dag in best.values()}


def _newer(version: AirflowVersion | None, than: AirflowVersion | None) -> bool:
    """A known version is newer than an unknown one."""
    return version is not None and (than is None or version > than)


def _split(
    conversations: list[Conversation], fraction: float, seed: int
) -> tuple[list[Conversation], list[Conversation]]:
    by_group: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        by_group[conversation.group].append(conversation)
    order = sorted(by_group, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    target = round(fraction * len(conversations))
    test: list[Conversation] = []
    train: list[Conversation] = []
    for group in order:
        (test if len(test) < target else train).extend(by_group[group])
    return train, test


def _replay(path: Path | None, ratio: float, n_train: int, seed: int) -> list[Conversation]:
    if path is None or ratio <= 0:
        return []
    rows = _read_jsonl(path)
    want = min(len(rows), round(ratio * n_train))
    chosen = random.Random(seed).sample(rows, want)
    replay: list[Conversation] = []
    for i, row in enumerate(chosen):
        messages = row.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise InputError(f"{path}: replay rows need a `messages` list of {{role, content}}")
        replay.append(
            Conversation(
                id=f"replay-{i:06d}",
                dag_id="",
                instruction_id="",
                style="replay",
                airflow_version=None,
                messages=[{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in messages],
                group=f"replay-{i}",
                source="replay",
            )
        )
    return replay


def build_dataset(
    dags_path: str | Path,
    instructions_path: str | Path,
    out_dir: str | Path,
    config: DatasetConfig | None = None,
    *,
    replay_path: str | Path | None = None,
    composed_path: str | Path | Sequence[str | Path] | None = None,
    exclude_requests: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> DatasetSummary:
    """Build `out_dir`: `hf/` (a DatasetDict), `train.jsonl`, `test.jsonl`, `README.md`, plots, `manifest.json`.

    `composed_path`: a dagsynth folder (`dags.jsonl` + `instructions.jsonl`), or several, whose verified files
    join the train split only. `exclude_requests`: a JSONL of evaluation requests (`request` or `text`); conversations
    whose request is one of them or nearly so are dropped (`filters.evaluation_overlap`).
    """
    config = config or DatasetConfig()
    report: Progress = progress or (lambda stage, done, total: None)
    out = Path(out_dir)
    dags_file = _file(dags_path, "dags.jsonl")
    instructions_file = _file(instructions_path, "instructions.jsonl")
    replay_file = _file(replay_path, "replay.jsonl") if replay_path else None
    composed_files = [(d, _file(d.with_name("instructions.jsonl"), "")) for d in _composed_dags(composed_path)]
    excluded_file = _file(exclude_requests, "requests.jsonl") if exclude_requests else None
    pairs: list[Path | None] = [f for pair in composed_files for f in pair] or [None, None]
    inputs = [dags_file, instructions_file, replay_file, *pairs, excluded_file]
    fingerprint = _fingerprint(inputs, config)
    previous = _manifest(out)
    if not force and previous and previous.get("fingerprint") == fingerprint:
        return DatasetSummary.model_validate({**previous["summary"], "out_dir": out, "skipped": True})

    tokenizer = load_tokenizer(config.tokenizer)  # fail before any work when it cannot be loaded
    dags = {d["id"]: MinedDag.model_validate(d) for d in _read_jsonl(dags_file)}
    instructions = [Request.model_validate(i) for i in _read_jsonl(instructions_file)]
    counts = FilterCounts()
    conversations = _join(dags, instructions, config, counts)
    for composed_dags, composed_requests in composed_files:
        made = {d["id"]: MinedDag.model_validate(d) for d in _read_jsonl(composed_dags)}
        asked = [Request.model_validate(i) for i in _read_jsonl(composed_requests)]
        conversations += _join(made, asked, config, counts, source="composed")
        dags |= made
    report("join", len(conversations), len(conversations))

    if excluded_file:
        held = [str(r.get("request") or r.get("text") or "") for r in _read_jsonl(excluded_file)]
        scores = closest([c.request for c in conversations], held)
        counts.evaluation_overlap = sum(score >= config.overlap_threshold for score in scores)
        conversations = [c for c, score in zip(conversations, scores, strict=True) if score < config.overlap_threshold]
        report("evaluation_overlap", len(conversations), counts.joined)

    # Test internals: the research's model learned to call Airflow's test helpers from such files.
    tainted = {d.id for d in dags.values() if any(is_test_internal(m) for m in d.imports)}
    counts.test_internals = sum(c.dag_id in tainted for c in conversations)
    conversations = [c for c in conversations if c.dag_id not in tainted]
    report("test_internals", len(conversations), counts.joined)

    seen: set[tuple[str, tuple[str, ...]]] = set()
    unique: list[Conversation] = []
    for conversation in conversations:
        # The file and every turn before its answer: a repair lesson is not a duplicate of its file's request.
        before = tuple(" ".join(m["content"].split()) for m in conversation.messages[1:-1])
        key = (normalized_hash(dags[conversation.dag_id].code), before)
        if key in seen:
            counts.exact_duplicates += 1
            continue
        seen.add(key)
        unique.append(conversation)
    conversations = unique
    report("exact_duplicates", len(conversations), counts.joined)

    # Composed files are alike by design (one grammar): near-duplicate pruning and lineage are for mined ones.
    composed = [c for c in conversations if c.source == "composed"]
    conversations = [c for c in conversations if c.source != "composed"]
    used = [dags[i] for i in dict.fromkeys(c.dag_id for c in conversations)]
    sigs = signatures([d.code for d in used], config.num_perm, config.shingle)
    report("minhash", len(used), len(used))
    clusters = near_duplicate_clusters(sigs, config.near_dup_threshold, config.num_perm)
    report("near_duplicates", len(used), len(used))
    groups = _groups(used, clusters)
    for conversation in conversations:
        conversation.group = groups[conversation.dag_id]
    if config.near_dup_policy == "keep_newest":
        keep = _keep_newest(used, clusters)
        counts.near_duplicates = sum(c.dag_id not in keep for c in conversations)
        conversations = [c for c in conversations if c.dag_id in keep]
    for conversation in composed:
        conversation.group = f"composed:{conversation.dag_id}"
    conversations += composed

    lengths = count_tokens(tokenizer, [c.messages for c in conversations])
    report("tokens", len(conversations), len(conversations))
    kept: list[Conversation] = []
    for conversation, n in zip(conversations, lengths, strict=True):
        conversation.n_tokens = n
        limit = (config.max_repair_tokens or config.max_tokens) if conversation.is_repair else config.max_tokens
        if n > limit:
            counts.too_long += 1  # dropped, never truncated: a cut DAG teaches the model to stop mid-file
        else:
            kept.append(conversation)
    counts.kept = len(kept)
    leaked = [c.dag_id for c in kept if c.dag_id in tainted]
    assert not leaked, f"test-internal imports survived filtering: {leaked[:3]}"

    mined_kept = [c for c in kept if c.source != "composed"]
    train, test = _split(mined_kept, config.test_fraction, config.seed)
    train += [c for c in kept if c.source == "composed"]  # the held-out split stays real files only
    sig_of = {d.id: s for d, s in zip(used, sigs, strict=True)}
    train_sigs = [sig_of[i] for i in dict.fromkeys(c.dag_id for c in train if c.dag_id in sig_of)]
    test_sigs = [sig_of[i] for i in dict.fromkeys(c.dag_id for c in test)]
    similarity = max_cross_similarity(train_sigs, test_sigs, config.num_perm)
    replay = _replay(replay_file, config.replay_ratio, len(train), config.seed)
    if replay:
        replay_lengths = count_tokens(tokenizer, [c.messages for c in replay])
        for conversation, n in zip(replay, replay_lengths, strict=True):
            conversation.n_tokens = n
        train = train + [c for c in replay if c.n_tokens <= config.max_tokens]
    report("split", len(train) + len(test), len(train) + len(test))

    summary = DatasetSummary(
        out_dir=out,
        skipped=False,
        train=len(train),
        test=len(test),
        replay=sum(c.source == "replay" for c in train),
        composed=sum(c.source == "composed" for c in train),
        repairs=sum(c.is_repair for c in train),
        filters=counts,
        max_cross_split_similarity=similarity,
        longest=max((c.n_tokens for c in kept), default=0),
    )
    _write(out, train, test, config, summary, fingerprint, tokenizer)
    report("write", summary.train + summary.test, summary.train + summary.test)
    return summary


def _manifest(out: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


def _write(
    out: Path,
    train: list[Conversation],
    test: list[Conversation],
    config: DatasetConfig,
    summary: DatasetSummary,
    fingerprint: str,
    tokenizer: Any,
) -> None:
    """Everything goes to a temporary folder beside `out`, which then replaces `out` in one rename."""
    import datasets
    from datasets import Dataset, DatasetDict

    datasets.disable_progress_bars()  # the stage reports its own progress
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, rows in (("train", train), ("test", test)):
            with (tmp / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(row.model_dump_json() + "\n")
        columns = (
            "id",
            "dag_id",
            "instruction_id",
            "style",
            "airflow_version",
            "request",
            "messages",
            "n_tokens",
            "group",
            "source",
            "contract_version",
        )
        DatasetDict(
            {
                name: Dataset.from_list([row.model_dump(mode="json", include=set(columns)) for row in rows])
                for name, rows in (("train", train), ("test", test))
            }
        ).save_to_disk(str(tmp / "hf"))
        written_plots = plots(tmp, train, test)
        (tmp / "README.md").write_text(
            card(train, test, summary.filters, config, summary.max_cross_split_similarity, summary.replay),
            encoding="utf-8",
        )
        (tmp / "chat_template.jinja").write_text(str(tokenizer.chat_template), encoding="utf-8")
        manifest = {
            "stage": "dataset",
            "package": "dagdata",
            "version": importlib.metadata.version("dagdata"),
            "fingerprint": fingerprint,
            "config": config.model_dump(mode="json"),
            "contract": config.contract.model_dump(mode="json"),
            "summary": summary.model_dump(mode="json", exclude={"out_dir", "skipped"}),
            "versions": dict(sorted(_count_versions([*train, *test]).items())),
            "plots": written_plots,
            "created_at": datetime.now(UTC).isoformat(),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{tmp.name.rsplit('.', 1)[-1]}")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _count_versions(rows: Sequence[Conversation]) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.source == "airflow":
            found[series(row.airflow_version)] += 1
    return found


def push_to_hub(out_dir: str | Path, repo_id: str, *, private: bool = True) -> None:  # pragma: no cover - network
    """Upload the dataset and its card to the Hugging Face Hub (never called by the tests)."""
    from datasets import load_from_disk
    from huggingface_hub import HfApi

    out = Path(out_dir)
    load_from_disk(str(out / "hf")).push_to_hub(repo_id, private=private)
    HfApi().upload_file(
        path_or_fileobj=str(out / "README.md"), path_in_repo="README.md", repo_id=repo_id, repo_type="dataset"
    )
