"""Request rows of the served optimizer -> one validated job config per row.

A row names a setup in the user's vocabulary (building_id, mode, n_days, ...); every column is
optional and falls back to the config of the run the model was logged from. Group choices are
composed with Hydra's compose API from the packaged config tree (`ems_sweep.conf`), so a row gets
exactly the building / mode / battery / EV that `python -m ems_sweep building=... mode=...` would.
All rows are checked before any solver runs; a bad row raises RowError naming row, column, value
and what is allowed.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import importlib.resources
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from ems_sweep.config import (
    ConfigError,
    Mode,
    PipelineName,
    Source,
    as_schema,
    register_configs,
    validate,
)

CONFIG_MODULE = "ems_sweep.conf"
INPUT_COLUMNS = ("building_id", "n_days", "start_date", "mode", "battery_enabled", "ev_enabled")
# A request is answered while the client waits: a row covers at most a month, a request at most
# a year of days in all (a 1-day row takes about 0.1-1 s). Longer studies are sweeps.
SERVED_MAX_N_DAYS = 31
SERVED_MAX_TOTAL_DAYS = 366

# Hydra's compose API works on process-global state; a model server may call predict from
# several threads at once.
_HYDRA_LOCK = threading.Lock()


class RowError(ConfigError):
    """A request row that cannot run; the message names row, column, value and what is allowed."""


@dataclass(frozen=True)
class RowSpec:
    """One request row after parsing, with the logged config's values filled in."""

    building_id: str
    n_days: int
    start_date: str
    mode: str
    battery_enabled: bool
    ev_enabled: bool


def base_config(resolved: dict[str, Any] | DictConfig) -> DictConfig:
    """The logged run's resolved config, typed by the schema and validated."""
    container = (
        OmegaConf.to_container(resolved, resolve=True, enum_to_str=True)
        if isinstance(resolved, DictConfig)
        else dict(resolved)
    )
    container.pop("hydra", None)
    cfg = as_schema(OmegaConf.create(container))
    validate(cfg)
    return cfg


def building_options() -> list[str]:
    """Building groups shipped in conf/building/ (what `building=<id>` accepts)."""
    return _group_options("building")


def mode_options() -> list[str]:
    return sorted(m.value for m in Mode)


def _group_options(group: str) -> list[str]:
    folder = importlib.resources.files(CONFIG_MODULE) / group
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def logged_building_ids(base: DictConfig) -> set[str]:
    """Names a row may use for the logged run's own building (its group name and its data id)."""
    return {str(base.building.name), str(base.building.id)}


def parse_rows(frame: pd.DataFrame, base: DictConfig) -> list[RowSpec]:
    """Check every row against what exists; raise RowError on the first bad value."""
    unknown = [c for c in frame.columns if c not in INPUT_COLUMNS]
    if unknown:
        raise RowError(f"Unknown input column(s) {unknown}; allowed columns: {list(INPUT_COLUMNS)}")
    if frame.empty:
        raise RowError(f"No rows to optimize; send at least one row with columns {INPUT_COLUMNS}")
    buildings = set(building_options()) | logged_building_ids(base)
    modes = mode_options()
    specs = []
    for pos, (_, row) in enumerate(frame.iterrows()):
        values = {c: _plain(row.get(c)) for c in INPUT_COLUMNS}
        specs.append(_parse_row(pos, values, base, buildings, modes))
    total = sum(spec.n_days for spec in specs)
    if total > SERVED_MAX_TOTAL_DAYS:
        raise RowError(
            f"The request asks for n_days={total} in all; allowed: at most "
            f"{SERVED_MAX_TOTAL_DAYS} days per request (split it, or run a sweep)"
        )
    return specs


def _parse_row(
    pos: int, values: dict[str, Any], base: DictConfig, buildings: set[str], modes: list[str]
) -> RowSpec:
    def fail(column: str, allowed: str) -> RowError:
        return RowError(f"Row {pos}: {column}={values[column]!r} is invalid; allowed: {allowed}")

    building = values["building_id"]
    building = str(base.building.name) if building is None else str(building)
    if building not in buildings:
        raise fail("building_id", f"one of {sorted(buildings)}")

    mode = values["mode"]
    mode = base.mode.name.value if mode is None else str(mode)
    if mode not in modes:
        raise fail("mode", f"one of {modes}")

    n_days = values["n_days"]
    if n_days is None:
        n_days = int(base.n_days)
    else:
        n_days = _as_int(n_days)
        if n_days is None or not 1 <= n_days <= SERVED_MAX_N_DAYS:
            raise fail("n_days", f"an integer >= 1 and <= {SERVED_MAX_N_DAYS} (served)")

    start = values["start_date"]
    start = str(base.start_date) if start is None else _as_date(start)
    if start is None:
        raise fail("start_date", "a date as YYYY-MM-DD")

    flags = {}
    for column, logged in (
        ("battery_enabled", base.battery.enabled),
        ("ev_enabled", base.ev.enabled),
    ):
        flag = values[column]
        flags[column] = bool(logged) if flag is None else _as_bool(flag)
        if flags[column] is None:
            raise fail(column, "a JSON boolean, true or false (not a string or number)")

    return RowSpec(building, n_days, start, mode, flags["battery_enabled"], flags["ev_enabled"])


def _plain(value: Any) -> Any:
    """None for a missing cell (None, NaN, NaT), else the value as a plain Python scalar."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # lists and other non-scalars
        return value
    return value.item() if isinstance(value, np.generic) else value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def _as_bool(value: Any) -> bool | None:
    """A real boolean only: "false", "no" or 0 are rejected rather than guessed at."""
    return value if isinstance(value, bool) else None


def _as_date(value: Any) -> str | None:
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        return None


def row_config(base: DictConfig, spec: RowSpec, building_data: str | None = None) -> DictConfig:
    """The job config of one row: the logged config with the row's group choices composed in.

    Groups the row leaves as logged keep the logged node (with any overrides the run had); a
    group the row changes gets the packaged option, composed by Hydra. `building_data` replaces
    the logged building's file path (the copy logged with the model).
    """
    cfg = copy.deepcopy(base)
    overrides = []
    logged_building = spec.building_id in logged_building_ids(base)
    if not logged_building:
        overrides.append(f"building={spec.building_id}")
    if spec.mode != base.mode.name.value:
        overrides.append(f"mode={spec.mode}")
    if spec.battery_enabled != bool(base.battery.enabled):
        overrides.append(f"battery={'default' if spec.battery_enabled else 'none'}")
    if spec.ev_enabled != bool(base.ev.enabled):
        overrides.append(f"ev={'default' if spec.ev_enabled else 'none'}")
    if base.pipeline.name != PipelineName.comparison:
        overrides.append("pipeline=comparison")
    if overrides:
        composed = _compose(tuple(overrides))
        for override in overrides:
            group = override.split("=", 1)[0]
            cfg[group] = composed[group]
        if not logged_building and _same_data(composed.building, base.building):
            # e.g. `cossmic_res1` for a run of that group (its name is the data id): keep the
            # logged node and its shipped data file.
            logged_building = True
            cfg.building = copy.deepcopy(base.building)
    if logged_building and building_data and cfg.building.source != Source.builtin:
        cfg.building.path = building_data
    cfg.n_days = spec.n_days
    cfg.start_date = spec.start_date
    # The served model never talks to a tracking store and throws its job files away.
    cfg.tracking.enabled = False
    cfg.tracking.log_model = False
    cfg.pipeline.max_plot_days = 0
    return cfg


def _same_data(composed: DictConfig, logged: DictConfig) -> bool:
    """A packaged file building that reads the same data as the logged one."""
    return (
        composed.source != Source.builtin
        and composed.source == logged.source
        and composed.id == logged.id
    )


def row_configs(
    frame: pd.DataFrame, base: DictConfig, building_data: str | None = None
) -> list[tuple[RowSpec, DictConfig]]:
    """Parse, compose and validate every row; nothing is solved until all rows passed."""
    jobs = []
    for pos, spec in enumerate(parse_rows(frame, base)):
        cfg = row_config(base, spec, building_data)
        try:
            validate(cfg)
        except ConfigError as exc:
            raise RowError(f"Row {pos}: {exc}") from exc
        jobs.append((spec, cfg))
    return jobs


@functools.lru_cache(maxsize=64)
def _compose_cached(overrides: tuple[str, ...]) -> DictConfig:
    register_configs()
    with _HYDRA_LOCK, _own_global_hydra():
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))


def _compose(overrides: tuple[str, ...]) -> DictConfig:
    return copy.deepcopy(_compose_cached(overrides))


@contextlib.contextmanager
def _own_global_hydra() -> Iterator[None]:
    """Compose even inside a running Hydra app (e.g. the tracking callback): park its state."""
    global_hydra = GlobalHydra.instance()
    parked = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        yield
    finally:
        # hydra.initialize swaps the GlobalHydra singleton on exit: fetch it again.
        global_hydra = GlobalHydra.instance()
        global_hydra.clear()
        if parked is not None:
            global_hydra.initialize(parked)
