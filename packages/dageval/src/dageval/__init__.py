"""dageval: is generated code a valid Airflow DAG? Level by level, with paired comparisons."""

from __future__ import annotations

import importlib.metadata

from dageval.evaluate import evaluate, version_from_prompt
from dageval.exceptions import DagevalError, InputError
from dageval.experiment import Experiment, JudgeConfig, JudgedModel, Serve, compare_models, judge_model, run_experiment
from dageval.extract import extract
from dageval.generate import GenerateConfig, GenerationError, Prompt, generate, read_prompts
from dageval.inputs import read_samples
from dageval.models import Level, LevelResult, Limits, Sample, Verdict
from dageval.report import markdown, write_report
from dageval.runtime import Runtime, RuntimeInfo, installed_runtimes, resolve_version
from dageval.stats import Comparison, LevelSummary, Summary, compare, mcnemar_exact, pass_at_k, summarize

__version__ = importlib.metadata.version("dageval")

__all__ = [
    "Comparison",
    "DagevalError",
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
    "Runtime",
    "RuntimeInfo",
    "Sample",
    "Serve",
    "Summary",
    "Verdict",
    "__version__",
    "compare",
    "compare_models",
    "evaluate",
    "extract",
    "generate",
    "installed_runtimes",
    "judge_model",
    "markdown",
    "mcnemar_exact",
    "pass_at_k",
    "read_prompts",
    "read_samples",
    "resolve_version",
    "run_experiment",
    "summarize",
    "version_from_prompt",
    "write_report",
]
