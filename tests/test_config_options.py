"""Every option of every config group composes to the values it always had.

The dataclasses in ems_sweep/config.py hold the defaults and each YAML option states only what
differs from them; this test pins the composed result of each option (tests/data/
composed_options.json, written once from the YAML files that spelled every value out), so
moving a value between a dataclass and a YAML file cannot change what a job runs with.
Regenerate deliberately with `python tests/test_config_options.py` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from ems_sweep.config import register_configs

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
FIXTURE = Path(__file__).resolve().parent / "data" / "composed_options.json"
# Groups whose options are nodes of the job config (experiment and hydra/* are sweeps/launchers).
GROUPS = sorted(
    p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("experiment", "hydra")
)


def _options() -> list[tuple[str, str]]:
    return [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]


def composed(group: str, option: str) -> dict[str, Any]:
    """The group's node as `--cfg job` shows it for `group=option` (interpolations kept)."""
    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"{group}={option}"])
    return OmegaConf.to_container(cfg[group], resolve=False, enum_to_str=True)


def _expected() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize(("group", "option"), _options())
def test_option_composes_to_its_pinned_values(group, option):
    expected = _expected()
    key = f"{group}={option}"
    assert key in expected, f"new option {key}: add its composed values to {FIXTURE.name}"
    assert composed(group, option) == expected[key]


def test_every_pinned_option_still_exists():
    assert sorted(_expected()) == sorted(f"{g}={o}" for g, o in _options())


if __name__ == "__main__":
    FIXTURE.write_text(
        json.dumps({f"{g}={o}": composed(g, o) for g, o in _options()}, indent=1, sort_keys=True)
        + "\n"
    )
