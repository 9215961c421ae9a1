"""`python -m ems_sweep`: compose the config with Hydra, validate it, run one job's pipeline."""

from __future__ import annotations

import atexit
import gc
import importlib.resources
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ems_sweep.cli import outcome
from ems_sweep.config import VARIANTS, ConfigError, check_key, register_configs, validate

if TYPE_CHECKING:  # pandas comes with the result module: import it only when a job runs
    from ems_sweep.pipelines.result import JobResult

log = logging.getLogger("ems_sweep")

register_configs()


def register_launcher() -> None:
    """Make `hydra/launcher=ems_joblib` and `hydra/sweeper=ems` known to Hydra also in an
    editable install.

    Hydra finds plugins by walking the hydra_plugins namespace on disk, which misses a package
    mapped by an editable install's import hook; the classes are registered under their names.
    """
    from hydra.core.plugins import Plugins

    from hydra_plugins.ems_sweep_launcher.ems_joblib_launcher import EmsJoblibLauncher
    from hydra_plugins.ems_sweep_launcher.ems_sweeper import EmsSweeper

    for plugin in (EmsJoblibLauncher, EmsSweeper):
        name = f"{plugin.__module__}.{plugin.__name__}"
        Plugins.instance().class_name_to_class.setdefault(name, plugin)


def freeze_gc_at_exit() -> None:
    """Skip the garbage collections of interpreter shutdown in this process.

    With MLflow, SQLAlchemy and pandas loaded they take 1-3 s per process, and a joblib sweep
    waits for its workers' shutdown. Frozen objects are left to the OS; files, loggers and
    stores are closed by their own exit handlers. Called per job as well: joblib workers get
    the task function by value and never import this module. Idempotent per process.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


freeze_gc_at_exit()


@hydra.main(version_base="1.3", config_path="pkg://ems_sweep.conf", config_name="config")
def run(cfg: DictConfig) -> JobResult | None:
    freeze_gc_at_exit()
    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        validate(cfg)
    except ConfigError as exc:
        if hydra_cfg.mode == RunMode.RUN:
            # Stopped before any work: no job files, no MLflow run; main prints it and exits.
            outcome.reject(f"Error: {exc}")
            return None
        # In a sweep, a bad combination fails its own job only.
        from ems_sweep.pipelines.result import write_summary
        from ems_sweep.pipelines.runner import failed_result

        result = failed_result(cfg, job_dir, exc)
        write_summary(result)
        log.error("%s", exc)
        return result

    from ems_sweep.pipelines.runner import run_job

    result = run_job(cfg, job_dir)
    if hydra_cfg.mode == RunMode.RUN:
        print(f"{cfg.building.name} {cfg.mode.name.value}: {result.status} {result.key_figure}")
        print(f"Job files: {job_dir}")
    return result


VERBOSE_FLAGS = ("--verbose", "-v")
# Shows the tracebacks of expected errors (logged at DEBUG by ems_sweep's loggers only).
VERBOSE_OVERRIDE = "hydra.verbose=ems_sweep"


def _config_groups() -> set[str]:
    """Group names of the packaged config tree (`building`, `experiment`, ...)."""
    root = importlib.resources.files("ems_sweep.conf")
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")}


def check_overrides(args: list[str]) -> None:
    """Reject command-line keys the schema lacks, `+key=value` included, before Hydra runs."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    texts = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(texts)
    except Exception:
        return  # a syntax error: Hydra reports it with its own message
    groups = _config_groups()
    choices = _variant_choices(parsed)
    for override, text in zip(parsed, texts, strict=True):
        key = override.key_or_group
        if override.package is not None or "/" in key or key.startswith("hydra") or key in groups:
            continue  # a group choice (building=res1, +experiment=...) or Hydra's own settings
        check_key(key, text, choices.get(key.partition(".")[0], ()))


def _variant_choices(parsed: list) -> dict[str, list[str]]:
    """The options of pipeline and tariff a command line runs: its choices (every value of a
    sweep), else conf/config.yaml's default."""
    from omegaconf import OmegaConf

    text = (importlib.resources.files("ems_sweep.conf") / "config.yaml").read_text()
    defaults = OmegaConf.create(text).defaults
    choices = {g: [str(e[g])] for e in defaults if OmegaConf.is_dict(e) for g in e if g in VARIANTS}
    for override in parsed:
        if override.key_or_group in VARIANTS and override.package is None:
            values = override.sweep_string_iterator() if override.is_sweep_override() else None
            choices[override.key_or_group] = list(values) if values else [override.value()]
    return choices


def main() -> None:
    """Run Hydra's app and exit with the code the run's job files justify (see outcome)."""
    args = sys.argv[1:]
    if any(a in VERBOSE_FLAGS for a in args):
        args = [a for a in args if a not in VERBOSE_FLAGS]
        # next to the other overrides: Hydra's parser takes -m before or after them, not between
        first = next((i for i, a in enumerate(args) if "=" in a and not a.startswith("-")), None)
        args.insert(len(args) if first is None else first, VERBOSE_OVERRIDE)
        sys.argv[1:] = args
    try:
        check_overrides(args)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(outcome.EXIT_BAD_INPUT)
    outcome.reset()
    register_launcher()
    run()
    result = outcome.current()
    if result.message:  # after Hydra's log lines: the last line of the run
        print(result.message, file=sys.stderr)
    sys.exit(result.code)


if __name__ == "__main__":
    main()
