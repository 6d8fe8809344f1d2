"""Composed files are what they claim: they load in a real Airflow of their version and show their request.

dagsynth's catalog of import paths per version is exactly what the model is taught, so this test judges a
sample of composed files (core operators only: providers would make the runtimes big) with dageval up to the
intent level, in the same Airflow 2.10.5 and 3.1.3 runtimes the rest of the suite uses.
"""

from __future__ import annotations

import dageval
import dagsynth
from dagcore import fix_imports
from dagcore.names import CORE
from dageval import Level, Sample


def _sample(sample_id: str, code: str, release: str, expect: dagsynth.Expect) -> Sample:
    return Sample(
        id=sample_id,
        completion=f"```python\n{code}```",
        airflow_version=release,
        expect=expect,
    )


def _below_intent(samples: list[Sample]) -> dict[str, tuple[str, str]]:
    """What a real Airflow of each sample's version said of the files that did not load or match their request."""
    verdicts = dageval.evaluate(samples, level=Level.INTENT, install_providers=False)
    return {
        v.sample_id: (v.results[-1].category, v.results[-1].message[:200]) for v in verdicts if v.passed != Level.INTENT
    }


def test_composed_core_files_load_and_match_their_requests_in_2_10_and_3_1() -> None:
    chosen = []
    for version, release in (("2.10", "2.10.5"), ("3.1", "3.1.3")):
        core = [d for d in dagsynth.compose(100, [version], seed=3) if not d.expect.providers]
        chosen += [(d, release) for d in core[:8]]
    samples = [_sample(d.id, d.code, release, d.expect) for d, release in chosen]
    assert len(samples) == 16
    failed = _below_intent(samples)
    assert not failed, failed
    kinds = {k for d, _ in chosen for k in d.kinds}
    assert {"bash", "empty"} & kinds and ({"python", "taskflow"} & kinds)


# Every name of dagcore's table outside the providers, written the way the other major spells it.
_EVERY_CORE_NAME = """from datetime import datetime, timedelta

{imports}

USED = (BaseHook, BaseOperator, BaseSensorOperator, DAG, Label, Param, PokeReturnValue, TaskGroup, Variable)
USED_TOO = (chain, cross_downstream, dag, get_current_context, task_group, BranchPythonOperator)
MORE = (PythonOperator, PythonVirtualenvOperator, ShortCircuitOperator, TriggerDagRunOperator, ExternalTaskSensor)

with DAG("every_core_name", start_date=datetime(2024, 1, 1), schedule=None, params={{"full": Param(False)}}):
    wait = TimeDeltaSensor(task_id="wait", delta=timedelta(minutes=1))
    seen = FileSensor(task_id="seen", filepath="/tmp/x")
    start = EmptyOperator(task_id="start")

    @task
    def work() -> int:
        return 1

    chain(start, [wait, seen], BashOperator(task_id="say", bash_command="echo hi"), work())
"""


def _spelled_for(major: int) -> str:
    """Import lines for every core name of the table (not the renamed asset class, not the smtp provider's operator),
    each from where the other major has it."""
    other = 0 if major == 3 else 1
    names = [n for n in CORE if n not in {"Dataset", "Asset", "EmailOperator"}]
    return "\n".join(f"from {CORE[n][other]} import {n}" for n in names)


def test_fix_imports_makes_files_written_for_the_other_major_load_in_2_10_and_3_1() -> None:
    """The fixer's moves are checked where they matter: a real Airflow of the target version loads the result."""
    samples = []
    for target, release, source in ((2, "2.10.5", "3.1"), (3, "3.1.3", "2.10")):
        wrong = _EVERY_CORE_NAME.format(imports=_spelled_for(target))
        fixed = fix_imports(wrong, release)
        assert fixed.changes, target
        samples.append(Sample(id=f"every-{target}", completion=f"```python\n{fixed.code}```", airflow_version=release))
        core = [d for d in dagsynth.compose(100, [source], seed=3) if not d.expect.providers][:4]
        for d in core:
            # As `airflow-net generate` fixes an answer: moved, and the contract block's unused names dropped.
            moved = fix_imports(d.code, release, drop_unused=True)
            assert any("->" in c for c in moved.changes) and any("unused" in c for c in moved.changes)
            samples.append(
                Sample(
                    id=f"{d.id}-to-{target}",
                    completion=f"```python\n{moved.code}```",
                    airflow_version=release,
                    expect=d.expect,
                )
            )
    verdicts = dageval.evaluate(samples, level=Level.INTENT, install_providers=False)
    failed = {
        v.sample_id: (v.results[-1].category, v.results[-1].message[:300])
        for v in verdicts
        if v.passed is None or v.passed < Level.IMPORT
    }
    assert len(samples) == 10 and not failed, failed


def test_specs_of_composed_core_designs_render_files_that_load_and_match_their_requests() -> None:
    """The spec renderer (`dagsynth.spec`) writes the file a spec-filling model's answer becomes: for the designs a
    spec can say, the rendered file loads in a real Airflow of each major and shows the design's request."""
    import random

    from dagsynth.compose import draw
    from dagsynth.spec import render_spec, spec_of

    samples = []
    for version, release in (("2.10", "2.10.5"), ("3.1", "3.1.3")):
        rng = random.Random(13)
        designs = [draw(rng, version) for _ in range(120)]
        said = [(d, s) for d in designs if not d.expect.providers and (s := spec_of(d)) is not None]
        groups = [p for p in said if "task_group" in p[0].expect.features][:2]
        for design, spec in groups + [p for p in said if p not in groups][: 8 - len(groups)]:
            samples.append(_sample(f"{release}-{len(samples)}", render_spec(spec, version), release, design.expect))
    assert len(samples) == 16
    failed = _below_intent(samples)
    assert not failed, failed
