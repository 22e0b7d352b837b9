"""The two instance configurations are valid Dagster instance YAML, and the defaults hold."""

import os
import subprocess

import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema

from conftest import REPO


def load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text(encoding="utf-8"))


def valid(config: dict) -> bool:
    return validate_config(dagster_instance_config_schema(), config).success


def test_sqlite_default_is_valid_and_queues_runs():
    config = load("dagster.yaml")
    assert valid(config)
    assert "storage" not in config  # sqlite under DAGSTER_HOME
    # sqlite takes one writer at a time: a small run limit keeps "database is locked" away.
    assert 1 <= config["concurrency"]["runs"]["max_concurrent_runs"] <= 2
    assert config["telemetry"]["enabled"] is False


def test_postgres_config_is_valid_and_keeps_secrets_in_the_environment():
    config = load("dagster.postgres.yaml")
    assert valid(config)
    database = config["storage"]["postgres"]["postgres_db"]
    assert all(database[field] == {"env": variable} for field, variable in (
        ("hostname", "DAGSTER_PG_HOST"), ("username", "DAGSTER_PG_USER"),
        ("password", "DAGSTER_PG_PASSWORD"), ("db_name", "DAGSTER_PG_DB")))
    database["hostnme"] = database.pop("hostname")  # the validator does catch a misspelt key
    assert not valid(config)


def test_env_script_installs_the_configured_instance_file(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "CURATION_DAGSTER_YAML": "dagster.postgres.yaml"}
    subprocess.run(["bash", "-c", "source scripts/env.sh"], cwd=REPO, env=env, check=True, timeout=600)
    assert ((home / "dagster.yaml").read_text(encoding="utf-8")
            == (REPO / "dagster.postgres.yaml").read_text(encoding="utf-8"))


def test_both_instances_turn_run_monitoring_on():
    for name in ("dagster.yaml", "dagster.postgres.yaml"):
        monitoring = load(name)["run_monitoring"]
        assert monitoring["enabled"] is True and monitoring["max_resume_run_attempts"] == 0, name
        assert valid(load(name))
