"""Data quality per local day: steps present, filled, flagged, and why; days skipped with a reason.

Missing data: gaps up to `building.max_fill_hours` inside the data are interpolated linearly and
counted per day in `DayQuality.filled_steps` (in the run's steps; steps OPSD itself marked as
interpolated count too). A day that still misses energy data, or misses any hour of the
day-ahead price, is skipped with its reason: a missing price is never replaced by a made-up value.

Rules, thresholds in `building.quality` (defaults in config.QualityConfig), and what each does:
- dead or stuck main meter: import, export and PV all flat (zero or constant) for at least
  `flat_meter_hours` while the submetered devices drew more than `flat_meter_min_submetered_kwh`
  -> the day is skipped (its consumption would be the submeters alone, its PV zero). A building
  with a battery behind the meter, whose meters rest at night, needs a longer threshold;
- a copied day: the main meters repeat, within `repeated_day_max_diff_kwh` in every step, the
  readings of the same hours 1..7 days before (gap filling by copying) -> the day is skipped;
- submetered devices exceeding the building's consumption from the main meters by more than
  `submeter_excess_share` of the day's consumption (and 0.05 kWh) -> the day is flagged (the
  excess is clipped: the devices are kept, the other load is 0 in those steps);
- a price scale far off EUR/kWh: a day whose median |price| exceeds `price_max_eur_per_kwh`
  -> an error (EUR/MWh);
- negative values in a consumption-side column (import, devices, EV) below
  `-negative_tolerance_kwh` -> treated as missing (filled if short) and the day is flagged; a
  column mostly negative has the wrong sign convention -> an error;
- duplicated, unsorted or zone-less timestamps and non-numeric cells -> an error in the readers.
The rules run on every source; the built-in generator has no main meters, so only the price and
missing-data rules can fire there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.data.cycles import true_runs
from ems_sweep.data.errors import DataError
from ems_sweep.data.model import PRICE, DayQuality

# Per-step data status (BuildingData.step_status, the inspect map).
PRESENT, FILLED, FLAGGED, MISSING = 0, 1, 2, 3
STATUS_NAMES = {PRESENT: "present", FILLED: "filled", FLAGGED: "flagged", MISSING: "missing"}
MIN_EXCESS_KWH = 0.05  # a day's submeter excess below this is rounding, not a meter problem


@dataclass
class RowFlag:
    """Rows (native steps of the window) a rule flagged, and the rule's one-line description."""

    mask: np.ndarray
    what: str
    skip: bool = False  # the day cannot be used


def fill_short_gaps(frame: pd.DataFrame, max_steps: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Interpolate interior runs of NaN up to max_steps long; also return which rows were filled."""
    out = frame.copy()
    filled = np.zeros(len(frame), dtype=bool)
    if max_steps <= 0:
        return out, filled
    for col in frame.columns:
        values = frame[col].to_numpy(dtype=float)
        missing = np.isnan(values)
        if not missing.any() or missing.all():
            continue
        short = np.zeros(len(values), dtype=bool)
        for s, e in true_runs(missing):
            if e - s <= max_steps and s > 0 and e < len(values):
                short[s:e] = True
        if short.any():
            known = ~missing
            x = np.arange(len(values))
            values = values.copy()
            values[short] = np.interp(x[short], x[known], values[known])
            out[col] = values
            filled |= short
    return out, filled


def _longest_run(mask: np.ndarray) -> int:
    return max((e - s for s, e in true_runs(mask)), default=0)


def negative_values(
    window: pd.DataFrame, columns: list[str], rules: DictConfig, path: str
) -> list[RowFlag]:
    """Flag (and blank, in place) negative consumption-side values; a column that is mostly
    negative is an error (generation-side sign convention)."""
    tol = float(rules.negative_tolerance_kwh)
    flags = []
    for col in columns:
        values = window[col].to_numpy(dtype=float)
        negative = values < -tol
        if not negative.any():
            continue
        nonzero = np.abs(values) > tol
        if negative.sum() > 0.5 * nonzero.sum():
            raise DataError(
                f"{path}: column {col!r} is negative in {int(negative.sum())} of "
                f"{int(nonzero.sum())} non-zero rows from {window.index[negative][0].isoformat()}; "
                "expected consumption >= 0 (generation and export negative): flip its sign"
            )
        times = ", ".join(t.strftime("%Y-%m-%d %H:%M UTC") for t in window.index[negative][:3])
        window.loc[negative, col] = np.nan
        flags.append(
            RowFlag(
                negative,
                f"negative {col} at {times} ({int(negative.sum())} rows; expected >= 0; "
                "treated as missing)",
            )
        )
    return flags


def flat_meters(
    meters: np.ndarray, submetered: np.ndarray, step_h: float, rules: DictConfig
) -> np.ndarray:
    """Rows in runs where every main meter (columns of `meters`) is constant for at least
    flat_meter_hours while the submeters drew more than flat_meter_min_submetered_kwh."""
    n = len(meters)
    out = np.zeros(n, dtype=bool)
    if n < 2 or meters.shape[1] == 0:
        return out
    same = np.all(np.abs(np.diff(meters, axis=0)) < 1e-9, axis=1)  # row t+1 equals row t
    min_steps = max(2, int(np.ceil(float(rules.flat_meter_hours) / step_h)))
    for s, e in true_runs(same):
        lo, hi = s, e + 1  # rows lo .. hi-1 are all equal
        sub = float(np.nansum(submetered[lo:hi]))
        if hi - lo >= min_steps and sub > float(rules.flat_meter_min_submetered_kwh):
            out[lo:hi] = True
    return out


def repeated_days(
    meters: pd.DataFrame, whole: pd.DataFrame, tz: str, rules: DictConfig
) -> list[RowFlag]:
    """Local days of `meters` (window rows, UTC index) whose readings equal those of the same
    steps 1..7 days earlier in `whole` (the file): one skip flag per copied day."""
    tol = float(rules.repeated_day_max_diff_kwh)
    if tol < 0 or meters.shape[1] == 0:
        return []
    dates = np.array(meters.index.tz_convert(tz).date)
    values = meters.to_numpy(dtype=float)
    energy = pd.Series(np.nansum(np.abs(values), axis=1)).groupby(dates).sum()
    flags = []
    found: dict[dt.date, dt.date] = {}
    for lag in range(1, 8):
        earlier = whole.reindex(meters.index - pd.Timedelta(days=lag)).to_numpy(dtype=float)
        same = pd.Series(np.all(np.abs(values - earlier) <= tol, axis=1)).groupby(dates).all()
        for day in same.index[same.to_numpy() & (energy.reindex(same.index) > 1.0).to_numpy()]:
            found.setdefault(day, day - dt.timedelta(days=lag))
    for day, source in sorted(found.items()):
        flags.append(
            RowFlag(
                dates == day,
                f"main meters repeat {source} in every step: a copied (imputed) day "
                f"(building.quality.repeated_day_max_diff_kwh={tol:g})",
                skip=True,
            )
        )
    return flags


def check_price_scale(
    native: pd.DataFrame, days: list[dt.date], where: str, column: str, rules: DictConfig
) -> None:
    """A day whose median |price| is above price_max_eur_per_kwh is in EUR/MWh: an error."""
    if PRICE not in native.columns:
        return
    limit = float(rules.price_max_eur_per_kwh)
    dates = np.array(native.index.date)
    price = native[PRICE].abs()
    bad = []
    for day in days:
        values = price[dates == day].dropna()
        if len(values) and float(values.median()) > limit:
            bad.append((day, float(values.median()), values.index))
    if bad:
        day, median, index = bad[0]
        first = index[0].tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")
        last = index[-1].tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")
        days_text = ", ".join(str(d) for d, _, _ in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise DataError(
            f"{where}: column {column!r} has a median of {median:g} on {day} (rows {first} .. "
            f"{last}; days {days_text}); expected EUR/kWh, at most "
            f"building.quality.price_max_eur_per_kwh={limit:g}: that looks like EUR/MWh "
            "(divide by 1000)"
        )


def submeter_excess_flags(
    index: pd.DatetimeIndex,
    submetered: np.ndarray,
    metered_consumption: np.ndarray,
    days: list[dt.date],
    rules: DictConfig,
) -> list[RowFlag]:
    """One flag per day whose submetered devices exceed the main meters' consumption by more
    than submeter_excess_share of the day's consumption (index: local step starts)."""
    share = float(rules.submeter_excess_share)
    excess = np.nan_to_num(np.maximum(submetered - metered_consumption, 0.0))
    consumption = np.nan_to_num(np.fmax(metered_consumption, submetered))
    dates = np.array(index.date)
    flags = []
    for day in days:
        rows = dates == day
        total = float(excess[rows].sum())
        if total > max(share * float(consumption[rows].sum()), MIN_EXCESS_KWH):
            mask = rows & (excess > 1e-6)
            flags.append(
                RowFlag(
                    mask,
                    f"submetered devices exceed the main meters' consumption by {total:.2f} kWh "
                    f"in {int(mask.sum())} steps (other load clipped to 0; a device on its own "
                    f"meter belongs out of building.fixed; building.quality.submeter_excess_share="
                    f"{share:g})",
                )
            )
    return flags


@dataclass(frozen=True)
class RowStatus:
    """Per native row of the window: filled by interpolation, present in the source (before
    filling), and the rules' flags."""

    filled: np.ndarray
    present: np.ndarray
    flags: list[RowFlag]

    @classmethod
    def complete(cls, n: int) -> RowStatus:
        """Every row present, none filled or flagged (the built-in generator)."""
        return cls(np.zeros(n, dtype=bool), np.ones(n, dtype=bool), [])


@dataclass(frozen=True)
class Resolution:
    """The source's native step and the run's step (minutes)."""

    native_min: int
    run_min: int


def day_quality(
    native: pd.DataFrame,
    rows: RowStatus,
    days: list[dt.date],
    resolution: Resolution,
    max_fill_hours: int,
) -> dict[dt.date, DayQuality]:
    """Quality record of each requested local day from the filled native-resolution frame."""
    local_dates = np.array(native.index.date)
    per_run = resolution.native_min / resolution.run_min
    result: dict[dt.date, DayQuality] = {}
    for day in days:
        in_day = local_dates == day
        lo = pd.Timestamp(day, tz=native.index.tz)
        hi = pd.Timestamp(day + dt.timedelta(days=1), tz=native.index.tz)
        q = DayQuality(
            date=day,
            filled_steps=int(rows.filled[in_day].sum() * per_run),
            expected_steps=int((hi - lo).total_seconds() // (resolution.run_min * 60)),
            present_steps=int((rows.present[in_day]).sum() * per_run),
        )
        flagged = np.zeros(int(in_day.sum()), dtype=bool)
        skip_reasons = []
        for flag in rows.flags:
            hit = flag.mask[in_day]
            if hit.any():
                if flag.skip:
                    skip_reasons.append(flag.what)
                else:
                    q.flags.append(flag.what)
                flagged |= hit
        q.flagged_steps = int(flagged.sum() * per_run)
        reason = _skip_reason(native, in_day, skip_reasons, resolution.native_min, max_fill_hours)
        if reason:
            q.skipped, q.reason = True, reason
        result[day] = q
    return result


def _skip_reason(
    native: pd.DataFrame,
    in_day: np.ndarray,
    skip_reasons: list[str],
    step_min: int,
    max_fill_hours: int,
) -> str:
    """Why the day (rows `in_day` of `native`) cannot be used, or "" when it can."""
    energy_cols = [c for c in native.columns if c != PRICE]
    missing = native.loc[in_day, energy_cols].isna().any(axis=1).to_numpy()
    if not in_day.any() or missing.all():
        return "no data for this day in the file"
    if skip_reasons:
        return "; ".join(skip_reasons)
    if missing.any():
        hours = missing.sum() * step_min / 60
        longest = _longest_run(missing) * step_min / 60
        return (
            f"{hours:g} h of data missing (longest gap {longest:g} h > "
            f"building.max_fill_hours={max_fill_hours})"
        )
    if PRICE not in native.columns:
        return "no day-ahead price column in the file"
    if native.loc[in_day, PRICE].isna().any():
        hours = native.loc[in_day, PRICE].isna().sum() * step_min / 60
        return f"day-ahead price missing for {hours:g} h"
    return ""


def step_status(native: pd.DataFrame, rows: RowStatus) -> pd.Series:
    """PRESENT / FILLED / FLAGGED / MISSING (energy data) per native step (the worst applies);
    a missing price skips its day (DayQuality.reason) but leaves the energy data's status."""
    status = np.full(len(native), PRESENT, dtype=int)
    status[rows.filled] = FILLED
    for flag in rows.flags:
        status[flag.mask] = FLAGGED
    energy_cols = [c for c in native.columns if c != PRICE]
    missing = native[energy_cols].isna().any(axis=1).to_numpy() | ~rows.present & ~rows.filled
    status[missing] = MISSING
    return pd.Series(status, index=native.index, name="status")
