"""dageval: is generated code a valid Airflow DAG? Level by level, with paired comparisons."""

from __future__ import annotations

import importlib.metadata

from dagcore import Expect
from dageval.benchmark import BENCHMARK, benchmark_file
from dageval.evaluate import evaluate
from dageval.evaluate import exact_version as resolve_release
from dageval.exceptions import (
    DagevalError,
    GenerationError,
    InputError,
    RuntimeBrokenError,
    RuntimeUnavailableError,
)
from dageval.experiment import (
    Experiment,
    JudgeConfig,
    JudgedModel,
    PromptSet,
    Serve,
    compare_models,
    judge_model,
    judge_sets,
    run_experiment,
    run_experiments,
)
from dageval.extract import extract
from dageval.generate import GenerateConfig, Prompt, generate, read_prompts
from dageval.inputs import read_samples
from dageval.lint import AirFinding, air_findings
from dageval.load import load_files
from dageval.models import Level, LevelResult, Limits, Sample, Verdict
from dageval.repairs import RepairRow, repair_table
from dageval.report import markdown, write_report
from dageval.runtime import Runtime, RuntimeInfo, installed_runtimes, resolve_version
from dageval.stats import (
    Comparison,
    LevelSummary,
    Summary,
    TagRate,
    compare,
    mcnemar_exact,
    pass_at_k,
    summarize,
    tag_rates,
)
from dageval.validator import Check, Validator

__version__ = importlib.metadata.version("dageval")

__all__ = [
    "BENCHMARK",
    "AirFinding",
    "Check",
    "Comparison",
    "DagevalError",
    "Expect",
    "Experiment",
    "GenerateConfig",
    "GenerationError",
    "InputError",
    "JudgeConfig",
    "JudgedModel",
    "Level",
    "LevelResult",
    "LevelSummary",
    "Limits",
    "Prompt",
    "PromptSet",
    "RepairRow",
    "Runtime",
    "RuntimeBrokenError",
    "RuntimeInfo",
    "RuntimeUnavailableError",
    "Sample",
    "Serve",
    "Summary",
    "TagRate",
    "Validator",
    "Verdict",
    "__version__",
    "air_findings",
    "benchmark_file",
    "compare",
    "compare_models",
    "evaluate",
    "extract",
    "generate",
    "installed_runtimes",
    "judge_model",
    "judge_sets",
    "load_files",
    "markdown",
    "mcnemar_exact",
    "pass_at_k",
    "read_prompts",
    "read_samples",
    "repair_table",
    "resolve_release",
    "resolve_version",
    "run_experiment",
    "run_experiments",
    "summarize",
    "tag_rates",
    "write_report",
]
