"""load_building: the one entry point from a job's config to its BuildingData."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np

from ems_sweep.config import EmsConfig, Source
from ems_sweep.data import builtin
from ems_sweep.data.assemble import assemble, day_bounds
from ems_sweep.data.errors import DataError
from ems_sweep.data.evtrips import snap_trip
from ems_sweep.data.model import OBSERVED_EV, PRICE, BuildingData, EVTrip
from ems_sweep.data.quality import check_price_scale, day_quality, step_status
from ems_sweep.data.resample import resample

__all__ = ["DataError", "load_building"]

log = logging.getLogger(__name__)


def building_source(cfg: EmsConfig) -> Source:
    value = cfg.building.source
    return value if isinstance(value, Source) else Source(str(value))


def load_building(cfg: EmsConfig) -> BuildingData:
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
    from ems_sweep.data.files import load_file_building

    return load_file_building(cfg, start, n_days, resolution)


def synthetic_ev_trips(
    cfg: EmsConfig, start: dt.date, n_days: int, resolution: int
) -> list[EVTrip]:
    """Trips drawn by the generator for a building whose data has no car (days -1..n_days)."""
    b = cfg.building
    days = [start + dt.timedelta(days=k) for k in range(-1, n_days + 1)]
    trips = builtin.ev_trips(b.generator, str(b.id), int(cfg.seed), days, str(b.timezone))
    return [snap_trip(t, resolution) for t in trips]


def _load_builtin(cfg: EmsConfig, start: dt.date, n_days: int, resolution: int) -> BuildingData:
    b = cfg.building
    one = dt.timedelta(days=1)
    gen = builtin.generate(b, int(cfg.seed), start - one, start + n_days * one + one)
    days = [start + k * one for k in range(n_days)]
    native = gen.frame
    check_price_scale(native, days, f"building.id={b.id} (built-in)", PRICE, b.quality)
    no_fill = np.zeros(len(native), dtype=bool)
    quality = day_quality(native, no_fill, days, builtin.STEP_MIN, resolution, 0)
    ext = resample(native, builtin.STEP_MIN, resolution)
    trips = []
    if cfg.ev.enabled:
        if b.generator.has_ev:
            trips = [snap_trip(t, resolution) for t in gen.ev_trips]
        else:  # a car the building does not have: plausible synthetic trips
            trips = synthetic_ev_trips(cfg, start, n_days, resolution)
    data = assemble(
        building=str(b.id),
        timezone=str(b.timezone),
        dt_h=resolution / 60.0,
        ext=ext,
        shiftable=list(b.shiftable),
        threshold_kw=float(b.cycle_threshold_kw),
        max_pause_hours=float(b.cycle_max_pause_hours),
        min_cycle_kwh=float(b.cycle_min_kwh),
        start=start,
        n_days=n_days,
        quality=quality,
        ev_trips=trips,
        ev_charging_kwh=ext[OBSERVED_EV].to_numpy(dtype=float)
        if cfg.ev.enabled and OBSERVED_EV in ext
        else None,
    )
    lo, hi = day_bounds(start, n_days, str(b.timezone))
    data.step_status = step_status(native, no_fill, np.ones(len(native), dtype=bool), [])
    data.step_status = data.step_status[(native.index >= lo) & (native.index < hi)]
    return data
