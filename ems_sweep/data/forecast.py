"""Forecasters: the day an EMS plans on, built only from data strictly before the planning time.

The planning time is midnight (local) of the horizon's first day; every day of the horizon is
forecast from the days before it (`History` refuses any later day). Day-ahead prices are known a
day ahead, as in reality, so they are copied from the day being planned; nothing else is.
Appliance cycles are not known before the user starts them: a forecast day has none (the plan
leaves them out and execution places each one when it is observed, see optimize/execute.py).

- persistence: load = the same hours of the previous usable day (forecast.load_lag=day) or of
  the same weekday last week (load_lag=week); PV = the previous usable day's profile; EV trips =
  the previous usable day's trips moved to the day (a simplification of "the usual pattern").
- average: load = mean of the same hours of the last forecast.load_weeks same weekdays; PV =
  mean profile of the last forecast.pv_days usable days; EV = the usual pattern of the last
  forecast.ev_days usable days (`usual_trip`): when the car left on at least half of them, one
  trip at the median departure time, away for the median time, using the median energy.
Series are matched by local clock time, so a 23- or 25-hour day forecasts from a 24-hour one.
Trips come from the source day's departures that had returned before the planning time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ems_sweep.config import ForecastName, LoadLag
from ems_sweep.data.model import BuildingData, DayData, DayQuality, EVTrip
from ems_sweep.data.slicing import slice_day

DAY = dt.timedelta(days=1)
MAX_LOOKBACK_DAYS = 14  # how far back persistence looks for a usable previous day


class ForecastError(ValueError):
    """No usable day before the planning time to forecast from."""


class LookaheadError(RuntimeError):
    """A forecaster asked for data at or after the planning time (a bug, never data)."""


@dataclass(frozen=True)
class History:
    """A building's days strictly before `before`: what an EMS has seen at planning time."""

    data: BuildingData
    before: dt.date

    def day(self, date: dt.date) -> DayData | None:
        """The usable day `date` (< before), or None when it is missing or was skipped."""
        if date >= self.before:
            raise LookaheadError(f"forecast for {self.before} asked for data of {date}")
        from ems_sweep.data.slicing import DayNotAvailableError

        try:
            return slice_day(self.data, date)
        except (DayNotAvailableError, ValueError):
            return None

    @property
    def cutoff(self) -> pd.Timestamp:
        """The planning time: midnight starting `before`, local."""
        return pd.Timestamp(self.before).tz_localize(self.data.timezone)


def known_part(day: DayData) -> DayData:
    """What is known of a day before it starts: its clock and its day-ahead prices."""
    n = day.n_steps
    return DayData(
        date=day.date,
        index=day.index,
        dt_h=day.dt_h,
        fixed_load_kwh=np.zeros(n),
        pv_kwh=np.zeros(n),
        day_ahead_eur_per_kwh=np.asarray(day.day_ahead_eur_per_kwh, dtype=float).copy(),
        cycles=[],
        ev_trips=[],
        quality=DayQuality(date=day.date),
    )


def _clock(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.hour * 60 + index.minute)


def on_clock(source: DayData, values: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
    """`values` of `source` moved to `index` by local clock time (DST days: mean / interpolate)."""
    series = pd.Series(np.asarray(values, dtype=float), index=_clock(source.index))
    series = series.groupby(level=0).mean()
    step = int(round(source.dt_h * 60))
    full = series.reindex(range(0, 1440, step)).interpolate(limit_direction="both")
    return full.loc[_clock(index)].to_numpy(dtype=float)


def moved_trips(source: DayData, target: DayData, cutoff: pd.Timestamp) -> list[EVTrip]:
    """The trips that left on `source`'s day and were back before `cutoff`, moved to `target`."""
    shift = pd.DateOffset(days=(target.date - source.date).days)
    out = []
    for trip in source.ev_trips:
        if trip.departure.tz_convert(cutoff.tz).date() != source.date or trip.arrival >= cutoff:
            continue
        try:
            out.append(
                replace(trip, departure=trip.departure + shift, arrival=trip.arrival + shift)
            )
        except (ValueError, OverflowError):  # a wall time that does not exist on the target day
            continue
    return out


def _away_span(day: DayData, cutoff: pd.Timestamp) -> tuple[float, float, float] | None:
    """(first departure in minutes after midnight, minutes away until the last return, kWh)
    of the trips that left on the day and were back before `cutoff`; None without a trip."""
    tz = cutoff.tz
    trips = [
        t
        for t in day.ev_trips
        if t.departure.tz_convert(tz).date() == day.date and t.arrival < cutoff
    ]
    if not trips:
        return None
    first = min(t.departure for t in trips).tz_convert(tz)
    last = max(t.arrival for t in trips)
    minutes = first.hour * 60 + first.minute
    return float(minutes), (last - first).total_seconds() / 60.0, sum(t.energy_kwh for t in trips)


def usual_trip(history: History, known: DayData, n_days: int) -> list[EVTrip]:
    """The usual pattern of the last n_days usable days (see module docstring)."""
    days = [d for x in _previous_days(history, n_days) if (d := history.day(x)) is not None]
    spans = [s for d in days if (s := _away_span(d, history.cutoff)) is not None]
    if not days or len(spans) < len(days) / 2:
        return []
    step = known.dt_h * 60.0
    leave, away, energy = (float(np.median([s[k] for s in spans])) for k in range(3))
    leave = step * round(leave / step)
    away = max(step, step * round(away / step))
    midnight = pd.Timestamp(known.date).tz_localize(history.data.timezone)
    try:
        departure = (midnight.tz_localize(None) + pd.Timedelta(minutes=leave)).tz_localize(
            history.data.timezone, nonexistent="shift_forward", ambiguous=True
        )
    except (ValueError, OverflowError):
        return []
    return [EVTrip(departure, departure + pd.Timedelta(minutes=away), energy)]


def _forecast_day(known: DayData, load: np.ndarray, pv: np.ndarray, trips: list[EVTrip]) -> DayData:
    return replace(
        known, fixed_load_kwh=np.maximum(load, 0.0), pv_kwh=np.maximum(pv, 0.0), ev_trips=trips
    )


class Forecaster(Protocol):
    """Builds the day the optimizer plans on; knows_cycles: the plan holds the real cycles."""

    knows_cycles: bool
    lookback_days: int

    def forecast(self, history: History, known: DayData) -> DayData: ...


def _first_usable(history: History, dates: list[dt.date], what: str, date: dt.date) -> DayData:
    for d in dates:
        if d < history.before and (day := history.day(d)) is not None:
            return day
    raise ForecastError(
        f"forecast of {what} for {date}: no usable day among {dates[0]} .. {dates[-1]} "
        f"before the planning time {history.before}"
    )


def _previous_days(history: History, n: int) -> list[dt.date]:
    return [history.before - k * DAY for k in range(1, n + 1)]


def _same_weekdays(history: History, date: dt.date, n: int) -> list[dt.date]:
    return [d for k in range(1, n + 8) if (d := date - 7 * k * DAY) < history.before][:n]


@dataclass(frozen=True)
class Persistence:
    """Yesterday (or the same weekday last week, for the load) happens again."""

    load_lag: LoadLag = LoadLag.day
    knows_cycles: bool = False
    lookback_days: int = MAX_LOOKBACK_DAYS + 7

    def forecast(self, history: History, known: DayData) -> DayData:
        prev = _first_usable(history, _previous_days(history, MAX_LOOKBACK_DAYS), "PV", known.date)
        if self.load_lag == LoadLag.week:
            dates = _same_weekdays(history, known.date, 2)
            src = _first_usable(history, dates, "the load", known.date)
        else:
            src = prev
        return _forecast_day(
            known,
            on_clock(src, src.fixed_load_kwh, known.index),
            on_clock(prev, prev.pv_kwh, known.index),
            moved_trips(prev, known, history.cutoff),
        )


@dataclass(frozen=True)
class Average:
    """Load of the last same weekdays and PV of the last days, averaged per clock time."""

    load_weeks: int = 4
    pv_days: int = 3
    ev_days: int = 7
    knows_cycles: bool = False

    @property
    def lookback_days(self) -> int:
        return 7 * (self.load_weeks + 1) + max(self.pv_days, self.ev_days)

    def forecast(self, history: History, known: DayData) -> DayData:
        weekdays = _same_weekdays(history, known.date, self.load_weeks)
        loads = [d for x in weekdays if (d := history.day(x)) is not None]
        days = [
            d for x in _previous_days(history, self.pv_days) if (d := history.day(x)) is not None
        ]
        if not loads or not days:
            raise ForecastError(
                f"forecast for {known.date}: no usable day among the last {self.load_weeks} "
                f"same weekdays or the last {self.pv_days} days before {history.before}"
            )
        load = np.mean([on_clock(d, d.fixed_load_kwh, known.index) for d in loads], axis=0)
        pv = np.mean([on_clock(d, d.pv_kwh, known.index) for d in days], axis=0)
        return _forecast_day(known, load, pv, usual_trip(history, known, self.ev_days))


def forecast_name(cfg: DictConfig) -> ForecastName:
    """The configured forecaster (perfect when the config has no forecast group)."""
    name = OmegaConf.select(cfg, "forecast.name", default=ForecastName.perfect)
    return name if isinstance(name, ForecastName) else ForecastName(str(name))


def make_forecaster(cfg: DictConfig) -> Forecaster | None:
    """The forecaster of cfg.forecast; None for perfect (the plan sees the actual days)."""
    name = forecast_name(cfg)
    f = cfg.get("forecast")
    if name == ForecastName.persistence:
        return Persistence(load_lag=LoadLag(getattr(f.load_lag, "value", f.load_lag)))
    if name == ForecastName.average:
        return Average(load_weeks=int(f.load_weeks), pv_days=int(f.pv_days), ev_days=int(f.ev_days))
    return None


def load_history(cfg: DictConfig, forecaster: Forecaster) -> BuildingData:
    """The building's data from lookback_days before start_date to the period's end."""
    from ems_sweep.data import load_building

    start = dt.date.fromisoformat(str(cfg.start_date))
    back = int(forecaster.lookback_days)
    wider = OmegaConf.merge(
        cfg, {"start_date": (start - back * DAY).isoformat(), "n_days": int(cfg.n_days) + back}
    )
    return load_building(wider)


def forecast_errors(forecast: DayData, actual: DayData) -> dict[str, float]:
    """MAE and bias (forecast - actual) per step of load and PV (kWh), and the day's actuals."""
    out: dict[str, float] = {}
    for key, f, a in (
        ("load", forecast.fixed_load_kwh, actual.fixed_load_kwh),
        ("pv", forecast.pv_kwh, actual.pv_kwh),
    ):
        err = np.asarray(f, dtype=float) - np.asarray(a, dtype=float)
        out[f"forecast_{key}_mae_kwh"] = float(np.mean(np.abs(err)))
        out[f"forecast_{key}_bias_kwh"] = float(np.mean(err))
        out[f"forecast_{key}_abs_error_kwh"] = float(np.sum(np.abs(err)))
        out[f"actual_{key}_kwh"] = float(np.sum(a))
    return out
