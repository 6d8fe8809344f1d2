"""Composed files are what they claim: they load in a real Airflow of their version and show their request.

dagsynth's catalog of import paths per version is exactly what the model is taught, so this test judges a
sample of composed files (core operators only: providers would make the runtimes big) with dageval up to the
intent level, in the same Airflow 2.10.5 and 3.1.3 runtimes the rest of the suite uses.
"""

from __future__ import annotations

import dageval
import dagsynth
from dageval import Expect, Level, Sample


def test_composed_core_files_load_and_match_their_requests_in_2_10_and_3_1() -> None:
    chosen = []
    for version, release in (("2.10", "2.10.5"), ("3.1", "3.1.3")):
        core = [d for d in dagsynth.compose(100, [version], seed=3) if not d.expect.providers]
        chosen += [(d, release) for d in core[:8]]
    samples = [
        Sample(
            id=d.id,
            completion=f"```python\n{d.code}```",
            airflow_version=release,
            expect=Expect.model_validate(d.expect.model_dump()),
        )
        for d, release in chosen
    ]
    verdicts = dageval.evaluate(samples, level=Level.INTENT, install_providers=False)
    failed = {
        v.sample_id: (v.results[-1].category, v.results[-1].message[:200]) for v in verdicts if v.passed != Level.INTENT
    }
    assert len(samples) == 16
    assert not failed, failed
    kinds = {k for d, _ in chosen for k in d.kinds}
    assert {"bash", "empty"} & kinds and ({"python", "taskflow"} & kinds)
