"""What each MCP tool does, as plain synchronous calls on typed results (the server runs them in threads)."""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import BaseModel, Field

import dageval
import dagserve
from airflow_net_mcp.examples import Example, ExampleIndex
from airflow_net_mcp.exceptions import McpAppError
from airflow_net_mcp.settings import McpSettings
from dagcore import FIX_IMPORTS_BY_DEFAULT, GRAMMAR_BY_DEFAULT, RETRY_BY_DEFAULT, JudgementLike
from dagsynth.spec import spec_loop_args

LEVELS = ("extract", "syntax", "structure", "lint", "import")


class LevelVerdict(BaseModel):
    level: str
    ok: bool
    category: str | None = None
    codes: list[str] = Field(default_factory=list)
    """Ruff AIR rule codes found (lint level)."""


class Validation(BaseModel):
    """dageval's verdict on one file, level by level, for one Airflow version."""

    ok: bool
    airflow_version: str | None
    level: str | None
    """The failing level, else the deepest one run."""
    category: str | None = None
    """Why it failed (`hallucinated_module`, `removed_in_airflow_3`, `syntax_error`, ...)."""
    message: str
    """What failed, in words to act on; for a pass, what Airflow loaded."""
    levels: list[LevelVerdict]
    imported: bool
    """Whether a real Airflow loaded the file (False when no runtime was available)."""


class GeneratedAttempt(BaseModel):
    number: int
    code: str
    verdict: Validation
    fixes: list[str] = []
    """What `fix_imports` changed in this answer: imports moved, a line's quotes mended."""


class Generated(BaseModel):
    """The generate-validate-repair loop of `airflow-net generate`: every attempt; `code` is the best (the valid one,
    else the one that came closest)."""

    ok: bool
    code: str
    attempts: list[GeneratedAttempt]


class Runtime(BaseModel):
    version: str
    providers: list[str]
    """Provider distributions installed in it (those its files asked for)."""
    broken_providers: list[str] = Field(default_factory=list)


class Tools:
    """Holds what is slow to start (Airflow workers per level, the model client, the index) for the server's life."""

    def __init__(self, settings: McpSettings) -> None:
        self.settings = settings
        self._validators: dict[str, dageval.Validator] = {}
        self._client: dagserve.Client | None = None
        self._index: ExampleIndex | None = None
        self._lock = threading.Lock()

    def _validator(self, level: str) -> dageval.Validator:
        if level not in LEVELS:
            raise McpAppError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        with self._lock:
            if level not in self._validators:
                self._validators[level] = dageval.Validator(
                    dageval.Level.from_label(level), install_runtimes=self.settings.install_runtimes
                )
            return self._validators[level]

    def validate_dag(
        self, code: str | None, path: str | None, airflow_version: str | None, level: str = "import"
    ) -> Validation:
        if (code is None) == (path is None):
            raise McpAppError("give either code or path, not both or neither")
        if path is not None:
            file = Path(path).expanduser()
            if not file.is_file():
                raise McpAppError(f"no file {file}")
            code = file.read_text(encoding="utf-8", errors="replace")
        assert code is not None
        version = airflow_version or self.settings.airflow_version
        return _validation(self._validator(level).validate(code, version), version)

    def generate_dag(
        self,
        request: str,
        airflow_version: str | None,
        max_repairs: int = 2,
        fix_imports: bool = FIX_IMPORTS_BY_DEFAULT,
        spec: bool = False,
        grammar: bool = GRAMMAR_BY_DEFAULT,
    ) -> Generated:
        if not 0 <= max_repairs <= 5:
            raise McpAppError("max_repairs must be between 0 and 5")
        version = airflow_version or self.settings.airflow_version
        result = dagserve.generate_valid_dag(
            self._model(),
            self._validator("import"),
            request,
            version,
            max_attempts=max_repairs + 1,
            max_tokens=self.settings.max_tokens,
            fix_imports=fix_imports and not spec,
            retry=RETRY_BY_DEFAULT,
            grammar=grammar,
            **(spec_loop_args(request, version) if spec else {}),
        )
        attempts = [
            GeneratedAttempt(
                number=a.number,
                code=a.generation.code or a.generation.completion,
                verdict=_validation(a.verdict, version),
                fixes=a.fixes,
            )
            for a in result.attempts
        ]
        final = result.final.generation
        return Generated(ok=result.ok, code=final.code or final.completion, attempts=attempts)

    def _model(self) -> dagserve.Client:
        with self._lock:
            if self._client is None:
                if self.settings.endpoint:
                    self._client = dagserve.Client(self.settings.endpoint)
                else:  # reuses a dagserve already running for this model
                    info = dagserve.start_server(dagserve.ServeConfig(model=self.settings.model, port=0))
                    self._client = dagserve.Client(info.url)
            return self._client

    def search_examples(self, query: str, airflow_version: str | None, k: int = 5) -> list[Example]:
        with self._lock:
            if self._index is None:
                if self.settings.examples is None:
                    raise McpAppError(
                        "no examples to search: start the server with --examples OUT_FOLDER of `airflow-net mine`"
                    )
                self._index = ExampleIndex(self.settings.examples)
            index = self._index
        return index.search(query, airflow_version, k)

    def airflow_versions(self) -> list[Runtime]:
        return [
            Runtime(
                version=info.version,
                providers=sorted(name for name, there in info.providers.items() if there),
                broken_providers=sorted(info.broken_providers),
            )
            for info in dageval.installed_runtimes()
        ]

    def close(self) -> None:
        for validator in self._validators.values():
            validator.close()
        if self._client is not None:
            self._client.close()
        if self._index is not None:
            self._index.close()


def _validation(check: JudgementLike, version: str | None) -> Validation:
    """dageval's verdict (a `Check`, or the copy the repair loop keeps of one) as the tool's result."""
    return Validation(
        ok=check.ok,
        airflow_version=version,
        level=check.level,
        category=check.category,
        message=check.message,
        levels=[LevelVerdict.model_validate(lv) for lv in check.details.get("levels", [])],
        imported=bool(check.details.get("imported")),
    )
