"""load_building: the one entry point from a job's config to its BuildingData."""

from __future__ import annotations

import datetime as dt
import logging

from omegaconf import DictConfig

from ems_sweep.config import Source
from ems_sweep.data import builtin
from ems_sweep.data.assemble import CycleRules, Period, SourceSeries, assemble
from ems_sweep.data.errors import DataError
from ems_sweep.data.evtrips import snap_trip
from ems_sweep.data.files import load_file_building
from ems_sweep.data.model import OBSERVED_EV, PRICE, BuildingData
from ems_sweep.data.quality import (
    Resolution,
    RowStatus,
    check_price_scale,
    day_quality,
    step_status,
)
from ems_sweep.data.resample import resample
from ems_sweep.data.sources import building_source, synthetic_ev_trips

__all__ = ["DataError", "load_building"]

log = logging.getLogger(__name__)


def load_building(cfg: DictConfig) -> BuildingData:
    """Building `cfg.building` for local days start_date .. start_date + n_days - 1.

    At cfg.resolution_min (15 or 60); built-in buildings are deterministic in cfg.seed. EV trips
    are included only when cfg.ev.enabled; metered EV charging is then its own column, and
    without an EV model (ev.enabled=false) part of the fixed load, as it happened.
    """
    start = dt.date.fromisoformat(str(cfg.start_date))
    n_days = int(cfg.n_days)
    resolution = int(cfg.resolution_min)
    source = building_source(cfg)
    if source == Source.builtin:
        return _load_builtin(cfg, start, n_days, resolution)
    return load_file_building(cfg, start, n_days, resolution)


def _load_builtin(cfg: DictConfig, start: dt.date, n_days: int, resolution: int) -> BuildingData:
    b = cfg.building
    period = Period(start, n_days, str(b.timezone))
    one = dt.timedelta(days=1)
    gen = builtin.generate(b, int(cfg.seed), start - one, start + n_days * one + one)
    days = period.days()
    native = gen.frame
    check_price_scale(native, days, f"building.id={b.id} (built-in)", PRICE, b.quality)
    rows = RowStatus.complete(len(native))
    quality = day_quality(native, rows, days, Resolution(builtin.STEP_MIN, resolution), 0)
    ext = resample(native, builtin.STEP_MIN, resolution)
    trips = []
    if cfg.ev.enabled:
        if b.generator.has_ev:
            trips = [snap_trip(t, resolution) for t in gen.ev_trips]
        else:  # a car the building does not have: plausible synthetic trips
            trips = synthetic_ev_trips(cfg, start, n_days, resolution)
    metered_ev = cfg.ev.enabled and OBSERVED_EV in ext
    series = SourceSeries(
        ext=ext,
        dt_h=resolution / 60.0,
        quality=quality,
        ev_trips=trips,
        ev_charging_kwh=ext[OBSERVED_EV].to_numpy(dtype=float) if metered_ev else None,
    )
    data = assemble(str(b.id), list(b.shiftable), period, series, CycleRules.of(b))
    lo, hi = period.bounds()
    data.step_status = step_status(native, rows)
    data.step_status = data.step_status[(native.index >= lo) & (native.index < hi)]
    return data
