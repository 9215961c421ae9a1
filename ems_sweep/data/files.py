"""Buildings from real files (tidy interval files, OPSD cumulative files) into BuildingData.

Building consumption, from which the fixed load is derived, comes from the grid meters:
- with import, export and PV metered: import - export + PV;
- with import and PV but no export meter (CoSSMic residential1): the consumption is unknown
  while the sun shines (self-consumed PV is invisible). The non-submetered other load is taken
  as import - submetered devices where there is no PV, and where there is PV as the larger of
  that and the median of the PV-free other load of the loaded window (a typical base load);
- without an import meter: the sum of the submetered devices.
The consumption is never below the submetered devices (other load >= 0).
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.config import Source
from ems_sweep.data import builtin
from ems_sweep.data.assemble import assemble, day_bounds
from ems_sweep.data.columns import ColumnMap, price_column, resolve_columns
from ems_sweep.data.errors import DataError
from ems_sweep.data.evtrips import trips_from_charging
from ems_sweep.data.loader import building_source, synthetic_ev_trips
from ems_sweep.data.model import (
    OBSERVED_EV,
    OBSERVED_EXPORT,
    OBSERVED_IMPORT,
    PRICE,
    PV,
    BuildingData,
    EVTrip,
    device_column,
)
from ems_sweep.data.prices import hourly_prices
from ems_sweep.data.quality import day_quality, fill_short_gaps
from ems_sweep.data.readers import file_columns, read_opsd, read_tidy
from ems_sweep.data.resample import resample
from ems_sweep.data.weather import _summerness, day_weather

log = logging.getLogger(__name__)


def _native_step_min(index: pd.DatetimeIndex, path: str) -> int:
    if len(index) < 2:
        raise DataError(f"building.path={path!r}: fewer than two rows of data")
    step = int(pd.Series(index[1:] - index[:-1]).median().total_seconds() // 60)
    if step <= 0 or 60 % step:
        raise DataError(f"building.path={path!r}: time step {step} min; allowed: 1, 15, 60 min")
    return step


def _to_internal(raw: pd.DataFrame, cmap: ColumnMap) -> pd.DataFrame:
    """Source columns (source signs) -> internal non-negative kWh columns."""

    def pos(col: str) -> np.ndarray:
        return np.maximum(raw[col].to_numpy(dtype=float), 0.0)

    def mag(col: str | None) -> np.ndarray:
        return np.abs(raw[col].to_numpy(dtype=float)) if col else np.zeros(len(raw))

    submetered = np.zeros(len(raw))
    for col in [*cmap.shiftable.values(), *cmap.fixed.values(), *([cmap.ev] if cmap.ev else [])]:
        submetered = submetered + pos(col)
    pv = mag(cmap.pv)
    out = pd.DataFrame(index=raw.index)
    if cmap.grid_import:
        imp = pos(cmap.grid_import)
        if cmap.grid_export:
            other = imp - mag(cmap.grid_export) + pv - submetered
        else:
            other = imp - submetered
            dark = (pv <= 1e-9) & np.isfinite(other)
            typical = max(float(np.median(other[dark])), 0.0) if dark.any() else 0.0
            other = np.where(pv > 1e-9, np.maximum(other, typical), other)
        consumption = submetered + np.where(np.isnan(other), np.nan, np.maximum(other, 0.0))
        out[OBSERVED_IMPORT] = imp
        if cmap.grid_export:
            out[OBSERVED_EXPORT] = mag(cmap.grid_export)
    else:
        consumption = submetered
    out[builtin.CONSUMPTION] = consumption
    for device, col in cmap.shiftable.items():
        out[device_column(device)] = pos(col)
    out[PV] = pv
    if cmap.ev:
        out[OBSERVED_EV] = pos(cmap.ev)
    if cmap.price:
        out[PRICE] = raw[cmap.price].to_numpy(dtype=float)
    return out


def _price_from_file(
    b: DictConfig, grid: pd.DatetimeIndex, step: int, max_steps: int
) -> np.ndarray:
    """The day-ahead price from building.price_path on the data's UTC grid (hourly prices are
    held over the hour's quarter hours; short gaps interpolated like the energies)."""
    path = str(b.price_path)
    col = price_column(b, file_columns(path), path)
    price = read_tidy(path, [col])[col]
    price_step = _native_step_min(price.index, path)
    if price_step > step:
        price = price.reindex(
            grid, method="ffill", tolerance=pd.Timedelta(minutes=price_step - step)
        )
    else:
        price = price.reindex(grid)
    filled, mask = fill_short_gaps(price.to_frame(), max_steps)
    return filled[col].to_numpy(dtype=float), mask


def _check_price_unit(native: pd.DataFrame, path: str) -> None:
    """Prices are EUR/kWh; a file in EUR/MWh would make every cost 1000 times too large."""
    if PRICE not in native.columns or native[PRICE].isna().all():
        return
    median = float(native[PRICE].abs().median())
    if median > 1.0:
        raise DataError(
            f"the day-ahead price of {path} has a median of {median:g}: that looks like EUR/MWh; "
            "allowed: EUR/kWh (divide the column by 1000)"
        )


def _synthetic_price(index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """The built-in regional day-ahead price at the given local steps (explicit opt-in only)."""
    out = np.empty(len(index))
    dates = np.array(index.date)
    for day in sorted(set(dates)):
        rows = dates == day
        prices = hourly_prices(seed, day, day_weather(seed, day), _summerness(day))
        out[rows] = prices[index[rows].hour]
    return out


def load_file_building(
    cfg: DictConfig, start: dt.date, n_days: int, resolution: int
) -> BuildingData:
    b = cfg.building
    path, tz = str(b.path), str(b.timezone)
    source = building_source(cfg)
    cmap = resolve_columns(b, file_columns(path), path)
    flags = None
    if source == Source.opsd:
        raw, flags = read_opsd(path, cmap.all_columns(), cumulative=cmap.energy_columns())
    else:
        raw = read_tidy(path, cmap.all_columns())
    step = _native_step_min(raw.index, path)

    lo, hi = day_bounds(start, n_days, tz)
    last = start + dt.timedelta(days=n_days - 1)
    if len(raw) == 0 or hi <= raw.index[0] or lo > raw.index[-1]:
        first_day = raw.index[0].tz_convert(tz).date() if len(raw) else None
        last_day = raw.index[-1].tz_convert(tz).date() if len(raw) else None
        raise DataError(
            f"requested days {start} .. {last} (start_date, n_days) are outside {path}, "
            f"which covers local days {first_day} .. {last_day} for building.id={b.id}"
        )
    ext_lo, ext_hi = day_bounds(start - dt.timedelta(days=1), n_days + 2, tz)
    grid = pd.date_range(
        ext_lo.tz_convert("UTC"), ext_hi.tz_convert("UTC"), freq=f"{step}min", inclusive="left"
    )
    window = raw.reindex(grid)
    max_steps = int(b.max_fill_hours) * 60 // step
    filled_frame, filled = fill_short_gaps(window, max_steps)
    if flags is not None:
        filled |= flags.reindex(grid, fill_value=False).to_numpy(dtype=bool)
    native = _to_internal(filled_frame, cmap)
    if b.get("price_path"):
        native[PRICE], price_filled = _price_from_file(b, grid, step, max_steps)
        filled |= price_filled
    native.index = native.index.tz_convert(tz)
    if PRICE not in native.columns and b.synthetic_price:
        log.warning("%s: no price column; using the built-in synthetic day-ahead price", path)
        native[PRICE] = _synthetic_price(native.index, int(cfg.seed))

    _check_price_unit(native, path)
    days = [start + dt.timedelta(days=k) for k in range(n_days)]
    quality = day_quality(native, filled, days, step, resolution, int(b.max_fill_hours))
    skipped = [q for q in quality.values() if q.skipped]
    if len(skipped) == len(days):
        reasons = "; ".join(f"{q.date}: {q.reason}" for q in skipped[:5])
        hint = ""
        if any("price" in q.reason for q in skipped):
            hint = " (point building.price_column at a price, or set building.synthetic_price=true)"
        raise DataError(
            f"no usable day in {start} .. {last} for building.id={b.id} in {path}: {reasons}{hint}"
        )
    for q in skipped:
        log.warning("%s %s skipped: %s", b.id, q.date, q.reason)
    ext = resample(native, step, resolution)
    trips: list[EVTrip] = []
    if cfg.ev.enabled:
        if cmap.ev:
            trips = trips_from_charging(
                ext[OBSERVED_EV].fillna(0.0),
                resolution / 60.0,
                float(cfg.ev.charge_efficiency),
                float(b.generator.ev_departure_hour_mean),
            )
        else:
            trips = synthetic_ev_trips(cfg, start, n_days, resolution)
    return assemble(
        building=str(b.id),
        timezone=tz,
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
    )
