"""dagsynth: compose short Airflow DAG files with real imports per version, and the requests they answer.

A composed file is only a candidate: the caller's judge (dageval, in a real Airflow of the file's version,
up to the intent level) decides what is kept.
"""

from __future__ import annotations

import importlib.metadata

from dagcore import Expect
from dagsynth.answers import ANSWER, Answer, AnswerSummary, answers_to_dir, read_composed
from dagsynth.api import Judge, compose, compose_to_dir, twins
from dagsynth.compose import Clock, compose_one
from dagsynth.exceptions import DagsynthError
from dagsynth.imports import import_lines, module_of
from dagsynth.models import ComposedDag, ComposeSummary, Verdict
from dagsynth.rows import STYLES
from dagsynth.schedules import CronNote

__version__ = importlib.metadata.version("dagsynth")

__all__ = [
    "ANSWER",
    "STYLES",
    "Answer",
    "AnswerSummary",
    "Clock",
    "ComposeSummary",
    "ComposedDag",
    "CronNote",
    "DagsynthError",
    "Expect",
    "Judge",
    "Verdict",
    "__version__",
    "answers_to_dir",
    "compose",
    "compose_one",
    "compose_to_dir",
    "import_lines",
    "module_of",
    "read_composed",
    "twins",
]
