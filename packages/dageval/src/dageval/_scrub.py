"""Secret-looking values out of verdict messages: a message is written to verdicts.jsonl and shown in reports,
and a hostile file can put anything it can read into its own error message."""

from __future__ import annotations

import os
import re

REDACTED = "[redacted]"
_NAMED = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api_?key|access_?key|fernet_?key|private_?key|credentials?))"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{8,})"
)
_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    re.compile(r"(?<![\w-])[A-Za-z0-9_-]{43}="),  # a Fernet key: 32 bytes, URL-safe base64
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{20,}"),  # OpenAI, Anthropic, Stripe-style keys
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JSON web tokens
]
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)(@)", re.IGNORECASE)
_SECRET_NAME = re.compile(r"(?i)key|secret|token|passw|credential|auth|conn|dsn")


def known_secrets() -> list[str]:
    """Values of this process's environment whose names look secret (`AIRFLOW__CORE__FERNET_KEY`, `*_TOKEN`)."""
    return sorted(
        (value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= 8),
        key=len,
        reverse=True,
    )


def scrub(text: str) -> str:
    """`text` with every secret-looking value replaced by `[redacted]`."""
    if not text:
        return text
    for value in known_secrets():
        text = text.replace(value, REDACTED)
    text = _NAMED.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text
