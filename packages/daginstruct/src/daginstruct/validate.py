"""Check a model's answer before it becomes an instruction: clean what can be cleaned, reject the rest."""

from __future__ import annotations

import re

from pydantic import BaseModel

from dagcore import AirflowVersion
from daginstruct.styles import version_label

_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok)[,!.]?\s+)?(?:here(?:'s| is)[^\n:]*:|"
    r"(?:the )?(?:user'?s? )?(?:request|instruction|prompt)\s*:)\s*",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"```|^\s*(?:from\s+[\w.]+\s+import\s|import\s+\w|def\s+\w+\s*\(|with\s+DAG\s*\(|@(?:dag|task)\b)|\w+\s*>>\s*\w+",
    re.MULTILINE,
)
MIN_WORDS = 5
MAX_CHARS = 2_500


class Verdict(BaseModel):
    ok: bool
    text: str = ""
    reason: str = ""
    """Why it was rejected: `empty`, `too_short`, `too_long`, `contains_code`."""
    cleaned: list[str] = []


def check(raw: str, airflow_version: AirflowVersion | str | None) -> Verdict:
    version = AirflowVersion.of(airflow_version)
    text = raw.strip()
    cleaned: list[str] = []
    stripped = _PREAMBLE.sub("", text, count=1).strip()
    if stripped != text:
        cleaned.append("preamble")
        text = stripped
    if (len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”") or (text.startswith("“") and text.endswith("”")):
        text = text[1:-1].strip()
        cleaned.append("quotes")
    if not text:
        return Verdict(ok=False, reason="empty")
    if _CODE.search(text):
        return Verdict(ok=False, reason="contains_code")
    if len(text.split()) < MIN_WORDS:
        return Verdict(ok=False, reason="too_short")
    if len(text) > MAX_CHARS:
        return Verdict(ok=False, reason="too_long")
    label = version_label(version)
    if version is not None and version.series not in text:
        # The version must be in the request, as users will state it at inference time.
        text = f"{text.rstrip()} (Use {label}.)"
        cleaned.append("version_added")
    return Verdict(ok=True, text=text, cleaned=cleaned)
