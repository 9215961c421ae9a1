"""Buildings from real files (tidy interval files, OPSD cumulative files) into BuildingData.

Building consumption, from which the fixed load is derived, comes from the grid meters:
- with import, export and PV metered: import - export + PV;
- with import and PV but no export meter (CoSSMic residential1) the consumption is unknown
  while the sun shines (self-consumed PV is invisible). It is estimated so that the baseline's
  hourly import equals the metered import:
  - no PV in the step: the import;
  - PV and import in the step: import + PV (all PV used on site; the baseline nets within a step
    and could not import and export in it);
  - PV and no import: the submetered devices plus the typical other load (the median of the
    PV-free other load of the loaded window), at most the PV (so the import stays 0); the rest
    of the PV counts as exported, an estimate the fidelity figures name as such;
- without an import meter: the sum of the submetered devices.
The consumption is never below the submetered devices (other load >= 0); where the devices
exceed the meters, the quality record flags the day (data/quality.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.config import Source
from ems_sweep.data import builtin
from ems_sweep.data.assemble import CycleRules, Period, SourceSeries, assemble
from ems_sweep.data.columns import ColumnMap, price_column, resolve_columns
from ems_sweep.data.errors import DataError
from ems_sweep.data.evtrips import session_energy, trips_from_charging
from ems_sweep.data.model import (
    OBSERVED_EV,
    OBSERVED_EXPORT,
    OBSERVED_IMPORT,
    PRICE,
    PV,
    BuildingData,
    DayQuality,
    EVTrip,
    device_column,
)
from ems_sweep.data.prices import hourly_prices
from ems_sweep.data.quality import (
    Resolution,
    RowFlag,
    RowStatus,
    check_price_scale,
    day_quality,
    fill_short_gaps,
    flat_meters,
    negative_values,
    repeated_days,
    step_status,
    submeter_excess_flags,
)
from ems_sweep.data.readers import file_columns, read_opsd, read_tidy
from ems_sweep.data.resample import resample
from ems_sweep.data.sources import building_source, synthetic_ev_trips
from ems_sweep.data.weather import _summerness, day_weather

log = logging.getLogger(__name__)


PRICE_KEY = "building.price_path"


def _native_step_min(index: pd.DatetimeIndex, where: str) -> int:
    if len(index) < 2:
        raise DataError(f"{where}: fewer than two rows of data")
    step = int(pd.Series(index[1:] - index[:-1]).median().total_seconds() // 60)
    if step <= 0 or 60 % step:
        raise DataError(f"{where}: time step {step} min; allowed: 1, 15, 60 min")
    return step


@dataclass
class Meters:
    """Per row of the window: the submetered devices and the consumption the main meters show
    (an upper bound in PV steps without an export meter), for the quality rules."""

    submetered: np.ndarray
    metered_consumption: np.ndarray


def _to_internal(raw: pd.DataFrame, cmap: ColumnMap) -> tuple[pd.DataFrame, Meters]:
    """Source columns (source signs) -> internal non-negative kWh columns."""

    def pos(col: str) -> np.ndarray:
        return np.maximum(raw[col].to_numpy(dtype=float), 0.0)

    def mag(col: str) -> np.ndarray:
        return np.abs(raw[col].to_numpy(dtype=float))

    submetered = np.zeros(len(raw))
    for col in [*cmap.shiftable.values(), *cmap.fixed.values(), *([cmap.ev] if cmap.ev else [])]:
        submetered = submetered + pos(col)
    pv = np.zeros(len(raw))
    for col in cmap.pv:
        pv = pv + mag(col)
    out = pd.DataFrame(index=raw.index)
    if cmap.grid_import:
        imp = pos(cmap.grid_import)
        if cmap.grid_export:
            metered = imp - mag(cmap.grid_export) + pv
            consumption = metered
        else:
            sunny = pv > 1e-9
            dark_other = (imp - submetered)[~sunny & np.isfinite(imp - submetered)]
            typical = max(float(np.median(dark_other)), 0.0) if len(dark_other) else 0.0
            metered = np.where(sunny, imp + pv, imp)  # an upper bound where the sun shines
            estimate = np.minimum(submetered + typical, pv)
            consumption = np.where(sunny & (imp <= 1e-9), estimate, metered)
        consumption = np.where(np.isnan(consumption), np.nan, np.fmax(consumption, submetered))
        out[OBSERVED_IMPORT] = imp
        if cmap.grid_export:
            out[OBSERVED_EXPORT] = mag(cmap.grid_export)
    else:
        consumption = metered = submetered
    out[builtin.CONSUMPTION] = consumption
    for device, col in cmap.shiftable.items():
        out[device_column(device)] = pos(col)
    out[PV] = pv
    if cmap.ev:
        out[OBSERVED_EV] = pos(cmap.ev)
    if cmap.price:
        out[PRICE] = raw[cmap.price].to_numpy(dtype=float)
    return out, Meters(submetered, metered)


def _price_from_file(
    b: DictConfig, grid: pd.DatetimeIndex, step: int, max_steps: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """The day-ahead price from building.price_path on the data's UTC grid (hourly prices are
    held over the hour's quarter hours; short gaps interpolated like the energies)."""
    path = str(b.price_path)
    col = price_column(b, file_columns(path, PRICE_KEY), path)
    price = read_tidy(path, [col], b.file_timezone, PRICE_KEY)[col]
    price_step = _native_step_min(price.index, f"{PRICE_KEY}={path!r}")
    if price_step > step:
        price = price.reindex(
            grid, method="ffill", tolerance=pd.Timedelta(minutes=price_step - step)
        )
    else:
        price = price.reindex(grid)
    filled, mask = fill_short_gaps(price.to_frame(), max_steps)
    return filled[col].to_numpy(dtype=float), mask, col


def _meter_flags(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    cmap: ColumnMap,
    meters: Meters,
    b: DictConfig,
    step_h: float,
) -> list[RowFlag]:
    """Dead or stuck main meters and copied days (skip)."""
    rules = b.quality
    flags = []
    main = [c for c in (cmap.grid_import, cmap.grid_export, *cmap.pv) if c]
    if cmap.grid_import:
        flags += repeated_days(frame[main], raw[main], str(b.timezone), rules)
        dead = flat_meters(frame[main].to_numpy(dtype=float), meters.submetered, step_h, rules)
        if dead.any():
            hours = float(rules.flat_meter_hours)
            flags.append(
                RowFlag(
                    dead,
                    f"main meters ({', '.join(main)}) flat for {hours:g} h or more while the "
                    "submetered devices drew: dead or stuck meter "
                    f"(building.quality.flat_meter_hours={hours:g})",
                    skip=True,
                )
            )
    return flags


def _synthetic_price(index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """The built-in regional day-ahead price at the given local steps (explicit opt-in only)."""
    out = np.empty(len(index))
    dates = np.array(index.date)
    for day in sorted(set(dates)):
        rows = dates == day
        prices = hourly_prices(seed, day, day_weather(seed, day), _summerness(day))
        out[rows] = prices[index[rows].hour]
    return out


def metered_charger_kw(raw: pd.DataFrame, cmap: ColumnMap, step_min: int) -> float | None:
    """The EV charger's power as the meter shows it: its highest step energy over the file
    (rounded up to 10 W, so the charger can deliver every metered step)."""
    if not cmap.ev:
        return None
    peak = float(np.nanmax(np.maximum(raw[cmap.ev].to_numpy(dtype=float), 0.0), initial=0.0))
    return math.ceil(peak * 60.0 / step_min * 100 - 1e-6) / 100 if peak > 0 else None


def follow_ev_meter(cfg: DictConfig, charger_kw: float | None) -> str | None:
    """With ev.follow_meter and a metered EV: ev.charger_kw = the meter's peak and the car starts
    at target_soc, so that charging on arrival refills exactly what each metered session put in.

    Set on the job's config, read by every schedule of the job (baseline, optimizer, checker)."""
    if not (cfg.ev.enabled and cfg.ev.follow_meter and charger_kw):
        return None
    cfg.ev.charger_kw = charger_kw
    cfg.ev.soc_initial = cfg.ev.target_soc
    note = (
        f"EV from the meter (ev.follow_meter=true): ev.charger_kw={charger_kw:g} (the metered "
        f"peak), ev.soc_initial={cfg.ev.target_soc:g} (= target_soc)"
    )
    log.info(note)
    return note


@dataclass(frozen=True)
class SourceFile:
    """A building's file as read: its rows (UTC), native step, columns and OPSD's own
    interpolation marks (None for a tidy file)."""

    path: str
    raw: pd.DataFrame
    step_min: int
    cmap: ColumnMap
    opsd_filled: pd.Series | None


def load_file_building(
    cfg: DictConfig, start: dt.date, n_days: int, resolution: int
) -> BuildingData:
    """BuildingData of a file building (source tidy or opsd) for the requested local days."""
    b = cfg.building
    period = Period(start, n_days, str(b.timezone))
    src = _read_source(cfg)
    _check_covers(src, period, str(b.id))
    native, rows = _native_window(cfg, src, period)
    quality = day_quality(
        native, rows, period.days(), Resolution(src.step_min, resolution), int(b.max_fill_hours)
    )
    _check_usable(quality, period, str(b.id), src.path)
    notes = []
    if len(src.cmap.pv) > 1:
        notes.append(f"PV summed over {len(src.cmap.pv)} columns: {', '.join(src.cmap.pv)}")
    note = follow_ev_meter(cfg, metered_charger_kw(src.raw, src.cmap, src.step_min))
    if note:
        notes.append(note)
    status = step_status(native, rows)
    ext = resample(native, src.step_min, resolution)
    trips, ev_charging = _ev_inputs(cfg, src.cmap, ext, period, resolution)
    series = SourceSeries(ext, resolution / 60.0, quality, trips, ev_charging)
    data = assemble(str(b.id), list(b.shiftable), period, series, CycleRules.of(b))
    lo, hi = period.bounds()
    data.columns = src.cmap.describe()
    data.step_status = status[(status.index >= lo) & (status.index < hi)]
    data.notes = notes
    return data


def _read_source(cfg: DictConfig) -> SourceFile:
    """building.path read with the columns the config maps (OPSD: cumulative meters diffed)."""
    b = cfg.building
    path = str(b.path)
    cmap = resolve_columns(b, file_columns(path), path)
    log.info("%s: columns %s", b.id, cmap.describe())
    flags = None
    if building_source(cfg) == Source.opsd:
        raw, flags = read_opsd(
            path,
            cmap.all_columns(),
            cumulative=cmap.energy_columns(),
            file_timezone=b.file_timezone,
        )
    else:
        raw = read_tidy(path, cmap.all_columns(), b.file_timezone)
    step = _native_step_min(raw.index, f"building.path={path!r}")
    return SourceFile(path, raw, step, cmap, flags)


def _check_covers(src: SourceFile, period: Period, building: str) -> None:
    """An error when no requested day lies in the file, naming the days the file covers."""
    raw, tz = src.raw, period.timezone
    lo, hi = period.bounds()
    if len(raw) == 0 or hi <= raw.index[0] or lo > raw.index[-1]:
        first_day = raw.index[0].tz_convert(tz).date() if len(raw) else None
        last_day = raw.index[-1].tz_convert(tz).date() if len(raw) else None
        raise DataError(
            f"requested days {period.start} .. {period.last} (start_date, n_days) are outside "
            f"{src.path}, which covers local days {first_day} .. {last_day} for "
            f"building.id={building}"
        )


def _native_window(
    cfg: DictConfig, src: SourceFile, period: Period
) -> tuple[pd.DataFrame, RowStatus]:
    """The extended window at the file's step: gaps filled, internal columns, the price, and
    every quality rule's flags."""
    b, cmap, step, path = cfg.building, src.cmap, src.step_min, src.path
    rules = b.quality
    ext_lo, ext_hi = period.extended_bounds()
    grid = pd.date_range(
        ext_lo.tz_convert("UTC"), ext_hi.tz_convert("UTC"), freq=f"{step}min", inclusive="left"
    )
    window = src.raw.reindex(grid)
    present = window[cmap.energy_columns()].notna().all(axis=1).to_numpy()
    row_flags = negative_values(window, cmap.consumption_columns(), rules, path)
    max_steps = int(b.max_fill_hours) * 60 // step
    filled_frame, filled = fill_short_gaps(window, max_steps)
    if src.opsd_filled is not None:
        filled |= src.opsd_filled.reindex(grid, fill_value=False).to_numpy(dtype=bool)
    native, meters = _to_internal(filled_frame, cmap)
    price_where, price_col = f"building.path={path!r}", cmap.price or ""
    if b.get("price_path"):
        native[PRICE], price_filled, price_col = _price_from_file(b, grid, step, max_steps)
        price_where = f"{PRICE_KEY}={str(b.price_path)!r}"
        filled |= price_filled
    native.index = native.index.tz_convert(period.timezone)
    if PRICE not in native.columns and b.synthetic_price:
        log.warning("%s: no price column; using the built-in synthetic day-ahead price", path)
        native[PRICE] = _synthetic_price(native.index, int(cfg.seed))

    ext_days = sorted(set(native.index.date))
    check_price_scale(native, ext_days, price_where, price_col, rules)
    row_flags += _meter_flags(filled_frame, src.raw, cmap, meters, b, step / 60.0)
    row_flags += submeter_excess_flags(
        native.index, meters.submetered, meters.metered_consumption, ext_days, rules
    )
    return native, RowStatus(filled, present, row_flags)


def _check_usable(
    quality: dict[dt.date, DayQuality], period: Period, building: str, path: str
) -> None:
    """An error when every requested day is skipped; else log the skipped and flagged days."""
    skipped = [q for q in quality.values() if q.skipped]
    if len(skipped) == period.n_days:
        reasons = "; ".join(f"{q.date}: {q.reason}" for q in skipped[:5])
        hint = ""
        if any("price" in q.reason for q in skipped):
            hint = " (point building.price_column at a price, or set building.synthetic_price=true)"
        raise DataError(
            f"no usable day in {period.start} .. {period.last} for building.id={building} in "
            f"{path}: {reasons}{hint}"
        )
    for q in skipped:
        log.warning("%s %s skipped: %s", building, q.date, q.reason)
    for q in quality.values():
        for flag in q.flags:
            log.warning("%s %s flagged: %s", building, q.date, flag)


def _ev_inputs(
    cfg: DictConfig, cmap: ColumnMap, ext: pd.DataFrame, period: Period, resolution: int
) -> tuple[list[EVTrip], np.ndarray | None]:
    """The job's EV trips and the metered charging its EV model takes over (none without an EV
    model; synthetic trips for a building whose file has no car)."""
    if not cfg.ev.enabled:
        return [], None
    if not cmap.ev:
        return synthetic_ev_trips(cfg, period.start, period.n_days, resolution), None
    dt_h = resolution / 60.0
    trips = trips_from_charging(
        ext[OBSERVED_EV].fillna(0.0),
        dt_h,
        float(cfg.ev.charge_efficiency),
        float(cfg.building.generator.ev_departure_hour_mean),
    )
    return trips, session_energy(ext[OBSERVED_EV], dt_h)
