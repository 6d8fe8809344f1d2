"""The user config: where it lives, what it keeps, and that what it writes is TOML that reads back the same."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dagcore import AirflowVersion, UserConfigError, config_path, load_user_config, set_user_config


def test_xdg_config_home_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "airflow-net" / "config.toml"
    assert load_user_config().model_dump() == {"airflow_version": None, "model": None, "server_url": None}


def test_round_trip_of_awkward_values(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    odd = 'C:\\models\\"smöl" \t.gguf'
    set_user_config("model", odd, path)
    config = set_user_config("airflow_version", "2.10.5", path)
    assert config.airflow_version == AirflowVersion("2.10.5")
    assert tomllib.loads(path.read_text()) == {"model": odd, "airflow_version": "2.10.5"}
    assert load_user_config(path) == config
    assert set_user_config("model", None, path).model is None


def test_bad_keys_values_and_files_are_one_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    with pytest.raises(UserConfigError, match="no config key 'port'"):
        set_user_config("port", "1", path)
    with pytest.raises(UserConfigError, match="airflow_version"):
        set_user_config("airflow_version", "latest", path)
    path.write_text('colour = "red"\n')
    with pytest.raises(UserConfigError, match="not a valid airflow-net config"):
        load_user_config(path)
