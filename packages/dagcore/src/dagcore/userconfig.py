"""The user's own defaults (Airflow version, model, server URL), one small TOML file in their config folder.

Every front end (`airflow-net generate`, `app`, `mcp`, `check`) reads it the same way: a flag given on the
command line wins, then this file, then the built-in default.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from dagcore.exceptions import UserConfigError
from dagcore.version import AirflowVersion

CONFIG_FILE = "config.toml"


class UserConfig(BaseModel):
    """What a user sets once instead of passing a flag every time; None: the command's own default."""

    model_config = ConfigDict(extra="forbid")

    airflow_version: AirflowVersion | None = None
    """The Airflow version to write for and check against (`3.1`, `2.10.5`)."""
    model: str | None = None
    """The GGUF dagserve serves: a path, or a name from `airflow-net models list`."""
    server_url: str | None = None
    """An OpenAI-compatible base URL to generate with instead of a local dagserve."""


KEYS = tuple(UserConfig.model_fields)


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/airflow-net` when set (any platform), else the platform's usual place."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg).expanduser() / "airflow-net"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "airflow-net"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "airflow-net"
    return Path.home() / ".config" / "airflow-net"


def config_path() -> Path:
    return config_dir() / CONFIG_FILE


def load_user_config(path: Path | None = None) -> UserConfig:
    """The saved config; an absent file is the empty config."""
    path = path or config_path()
    if not path.is_file():
        return UserConfig()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return UserConfig.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as e:
        reason = str(e).replace("\n", " ")
        raise UserConfigError(f"{path} is not a valid airflow-net config ({reason}); fix or delete it") from e


def set_user_config(key: str, value: str | None, path: Path | None = None) -> UserConfig:
    """Save one key (None or "" removes it) and return the whole config; the file is replaced atomically."""
    if key not in KEYS:
        raise UserConfigError(f"no config key {key!r}: the keys are {', '.join(KEYS)}")
    path = path or config_path()
    data = load_user_config(path).model_dump(exclude_none=True, mode="json")
    if value:
        data[key] = value
    else:
        data.pop(key, None)
    try:
        config = UserConfig.model_validate(data)
    except ValidationError as e:
        raise UserConfigError(f"{key}: {e.errors()[0]['msg']}") from e
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(_toml(config), encoding="utf-8")
    tmp.replace(path)
    return config


def _toml(config: UserConfig) -> str:
    # Flat string values only: a JSON string (ASCII, escaped) is also a valid TOML basic string.
    lines = ["# airflow-net user config: `airflow-net config set KEY VALUE` writes it; flags override it."]
    lines += [f"{k} = {json.dumps(v)}" for k, v in config.model_dump(exclude_none=True, mode="json").items()]
    return "\n".join(lines) + "\n"
