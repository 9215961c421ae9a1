"""Which source a building reads, and the synthetic car trips for a building without a car.

Shared by the built-in loader (loader.py) and the file loader (files.py), so that neither
imports the other."""

from __future__ import annotations

import datetime as dt

from omegaconf import DictConfig

from ems_sweep.config import Source
from ems_sweep.data import builtin
from ems_sweep.data.evtrips import snap_trip
from ems_sweep.data.model import EVTrip


def building_source(cfg: DictConfig) -> Source:
    value = cfg.building.source
    return value if isinstance(value, Source) else Source(str(value))


def synthetic_ev_trips(
    cfg: DictConfig, start: dt.date, n_days: int, resolution: int
) -> list[EVTrip]:
    """Trips drawn by the generator for a building whose data has no car (days -1..n_days)."""
    b = cfg.building
    days = [start + dt.timedelta(days=k) for k in range(-1, n_days + 1)]
    trips = builtin.ev_trips(b.generator, str(b.id), int(cfg.seed), days, str(b.timezone))
    return [snap_trip(t, resolution) for t in trips]
