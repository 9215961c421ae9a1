"""Built-in CoSSMic-like buildings, generated deterministically from the seed for any dates.

The generator works on a 15-minute local grid (the 60-minute data is its sum, so both
resolutions describe the same days). Each (building, day, component) has its own random
generator seeded by (seed, stream, building, day), so a day's data does not depend on which date
range was requested. It returns what a metered building would: total consumption, submetered
shiftable devices, PV, day-ahead price and EV charging, plus the ground truth (appliance runs and
EV trips) that tests compare the cycle detection against.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ems_sweep.data.model import OBSERVED_EV, PRICE, PV, Cycle, EVTrip, device_column
from ems_sweep.data.prices import hourly_prices
from ems_sweep.data.weather import (
    _summerness,
    clear_sky_kw_per_kwp,
    day_weather,
    intraday_clearness,
)

CONSUMPTION = "consumption_kwh"  # total building consumption (devices, EV and other load)
STEP_MIN = 15
STEP_H = STEP_MIN / 60.0
LOAD_STREAM, APPLIANCE_STREAM, EV_STREAM = 3, 4, 5
# A machine rests at least this long between runs, so that runs stay apart at 60-min resolution
# too: a pause of 3 h between quarter-hour runs is at least 2 whole hours, more than the default
# building.cycle_max_pause_hours = 1 that detection merges as one programme.
MIN_GAP_MIN = 180


class GeneratorError(ValueError):
    """A generator parameter set that cannot produce data (names the key and what is allowed)."""


@dataclass
class GeneratedBuilding:
    frame: pd.DataFrame  # 15-min local index; CONSUMPTION, device columns, PV, PRICE[, OBSERVED_EV]
    cycles: list[Cycle]  # ground truth appliance runs (15-min profiles), all devices with a profile
    ev_trips: list[EVTrip]


def _plain(gen: DictConfig) -> SimpleNamespace:
    """Generator parameters as plain Python values (OmegaConf access is slow in inner loops)."""
    values = OmegaConf.to_container(gen, resolve=True) if isinstance(gen, DictConfig) else gen
    apps = {k: SimpleNamespace(**v) for k, v in values.get("appliances", {}).items()}
    return SimpleNamespace(**{**values, "appliances": apps})


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def _gauss(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2)


def day_index(day: dt.date, tz: str, step_min: int = STEP_MIN) -> pd.DatetimeIndex:
    """Step starts of one local day (92, 96 or 100 quarter hours around DST changes)."""
    start = pd.Timestamp(day, tz=tz)
    end = pd.Timestamp(day + dt.timedelta(days=1), tz=tz)
    return pd.date_range(start, end, freq=f"{step_min}min", inclusive="left")


def phase_profile(phases: list[list[float]], heating_scale: float = 1.0) -> np.ndarray:
    """Energy per 15-min step (kWh) of one run from its [minutes, kW] phases.

    Phases of 1 kW or more heat water; their energy varies from run to run (inlet temperature,
    programme) by `heating_scale`."""
    if not phases:
        raise GeneratorError("appliance phases: empty; allowed: a list of [minutes, kW] pairs")
    minute_kw: list[float] = []
    for minutes, kw in phases:
        if minutes <= 0 or kw <= 0:
            raise GeneratorError(f"appliance phase {[minutes, kw]}: allowed: minutes > 0, kW > 0")
        minute_kw += [kw * (heating_scale if kw >= 1.0 else 1.0)] * int(round(minutes))
    n = -(-len(minute_kw) // STEP_MIN)
    padded = np.zeros(n * STEP_MIN)
    padded[: len(minute_kw)] = minute_kw
    return padded.reshape(n, STEP_MIN).sum(axis=1) / 60.0


def _household_load(
    gen: DictConfig, name: str, seed: int, day: dt.date, idx: pd.DatetimeIndex, temperature_c: float
) -> np.ndarray:
    """Base load with daily and weekly rhythm, cold appliances and heat pump (kWh per step)."""
    rng = np.random.default_rng([seed, LOAD_STREAM, _key(name), day.toordinal()])
    n = len(idx)
    h = (idx.hour + idx.minute / 60.0).to_numpy() + STEP_H / 2
    s = _summerness(day)
    weekend = day.weekday() >= 5
    peaks = (
        1.0 * (gen.weekend_factor if weekend else 1.0) * float(np.exp(0.15 * rng.standard_normal()))
    )
    ar = np.zeros(n)
    e = rng.standard_normal(n)
    for i in range(n):
        ar[i] = 0.85 * (ar[i - 1] if i else 0.0) + 0.3 * e[i]
    kw = gen.base_load_kw * (1.0 + 0.2 * (1.0 - s)) * np.exp(0.5 * ar - 0.1)
    morning = (8.5 if weekend else 7.0, 1.0)
    kw = kw + peaks * gen.morning_peak_kw * _gauss(h, *morning)
    kw = kw + peaks * gen.evening_peak_kw * (1.0 + 0.4 * (1.0 - s)) * _gauss(h, 19.5, 1.8)
    if weekend:
        kw = kw + 0.5 * peaks * gen.evening_peak_kw * _gauss(h, 12.5, 1.5)  # cooking at noon
    for cold_kw, duty in ((gen.freezer_kw, 0.45 + 0.15 * s), (gen.refrigerator_kw, 0.35 + 0.1 * s)):
        if cold_kw > 0:
            kw = kw + cold_kw * np.clip(duty + 0.2 * rng.standard_normal(n), 0.0, 1.0)
    if gen.heat_pump_kw_winter > 0:
        demand = np.clip((15.0 - temperature_c) / 17.0, 0.0, 1.3)
        space = demand * (1.0 + 0.3 * np.cos(2 * np.pi * (h - 5.0) / 24.0))
        hot_water = 0.5 * ((h >= 5.0) & (h < 6.0))
        noise = 0.1 * rng.standard_normal(n) * (space > 0)
        kw = kw + gen.heat_pump_kw_winter * np.clip(space + noise, 0, None)
        kw = kw + gen.heat_pump_kw_winter * hot_water
    return np.maximum(kw, 0.0) * STEP_H


def _appliance_runs(gen: DictConfig, name: str, seed: int, day: dt.date, tz: str) -> list[Cycle]:
    """The day's appliance runs: counts ~ Poisson, starts drawn from hour-of-day weights."""
    runs: list[Cycle] = []
    idx = day_index(day, tz)
    for device, app in sorted(gen.appliances.items()):
        key = [seed, APPLIANCE_STREAM, _key(name), day.toordinal(), _key(device)]
        rng = np.random.default_rng(key)
        weights = np.asarray(app.hour_weights, dtype=float)
        if weights.shape != (24,) or weights.min() < 0 or weights.sum() <= 0:
            raise GeneratorError(
                f"generator.appliances.{device}.hour_weights={list(weights)}; "
                "allowed: 24 non-negative weights, not all zero"
            )
        count = rng.poisson(app.runs_per_week / 7.0)
        hours = np.sort(rng.choice(24, size=count, p=weights / weights.sum()))
        quarters = rng.integers(0, 4, size=count)
        for hour, quarter in zip(hours, quarters, strict=True):
            start = pd.Timestamp(day, tz=tz) + pd.Timedelta(
                hours=int(hour), minutes=15 * int(quarter)
            )
            start = idx[np.searchsorted(idx, start)] if start <= idx[-1] else idx[-1]
            profile = phase_profile(app.phases, float(rng.uniform(0.85, 1.15)))
            prev = [c for c in runs if c.device == device]
            if prev and start < prev[-1].start + pd.Timedelta(
                minutes=STEP_MIN * len(prev[-1].profile_kwh) + MIN_GAP_MIN
            ):
                continue  # one machine cannot run twice at once; the household skips this run
            runs.append(Cycle(device, start, profile))
    return runs


def _ev_trips(gen: DictConfig, name: str, seed: int, day: dt.date, tz: str) -> list[EVTrip]:
    """At most one trip a day: commute on weekdays, an outing on some weekend days."""
    rng = np.random.default_rng([seed, EV_STREAM, _key(name), day.toordinal()])
    weekend = day.weekday() >= 5
    if rng.uniform() > (0.45 if weekend else 0.85):
        return []
    if weekend:
        dep = rng.normal(10.5, 1.5)
        arr = dep + rng.uniform(2.0, 8.0)
    else:
        dep = rng.normal(gen.ev_departure_hour_mean, 0.6)
        arr = rng.normal(gen.ev_arrival_hour_mean, 1.2)
    dep = float(np.clip(dep, 5.0, 20.0))
    arr = float(np.clip(max(arr, dep + 1.0), dep + 1.0, 23.5))
    energy = float(np.clip(rng.gamma(4.0, gen.ev_trip_kwh_mean / 4.0), 1.0, 45.0))
    day0 = pd.Timestamp(day, tz=tz)

    def at(hour: float) -> pd.Timestamp:
        return (day0 + pd.Timedelta(minutes=STEP_MIN * round(hour * 60 / STEP_MIN))).tz_convert(tz)

    return [EVTrip(departure=at(dep), arrival=at(arr), energy_kwh=round(energy, 2))]


def ev_trips(gen: DictConfig, name: str, seed: int, days: list[dt.date], tz: str) -> list[EVTrip]:
    """Plausible trips from the generator's EV parameters (also for buildings without EV data)."""
    return [t for d in days for t in _ev_trips(gen, name, seed, d, tz)]


def charge_on_arrival(
    index: pd.DatetimeIndex, trips: list[EVTrip], charger_kw: float, efficiency: float
) -> np.ndarray:
    """Metered EV charging (kWh per step) of a car that charges at full power when it returns."""
    step_h = (index[1] - index[0]).total_seconds() / 3600.0
    out = np.zeros(len(index))
    for trip in trips:
        need = trip.energy_kwh / efficiency
        pos = int(np.searchsorted(index, trip.arrival))
        while need > 1e-9 and pos < len(index):
            e = min(need, charger_kw * step_h)
            out[pos] += e
            need -= e
            pos += 1
    return out


def _after_earlier_runs(runs: list[Cycle], day_runs: list[Cycle]) -> list[Cycle]:
    """Today's runs of each device that start after its last earlier run (plus MIN_GAP_MIN) has
    ended: a run late yesterday may still be going at today's first start."""
    for dev in {c.device for c in day_runs}:
        last = [c for c in runs if c.device == dev]
        if last:
            busy = last[-1].start + pd.Timedelta(
                minutes=STEP_MIN * len(last[-1].profile_kwh) + MIN_GAP_MIN
            )
            day_runs = [c for c in day_runs if c.device != dev or c.start >= busy]
    return day_runs


def _device_energy(index: pd.DatetimeIndex, runs: list[Cycle]) -> np.ndarray:
    """One device's energy per step of `index` from its runs (cut at the index's end)."""
    col = np.zeros(len(index))
    for c in runs:
        pos = int(np.searchsorted(index, c.start))
        n = min(len(c.profile_kwh), len(index) - pos)
        col[pos : pos + n] += c.profile_kwh[:n]
    return col


def generate(
    bcfg: DictConfig, seed: int, first_day: dt.date, end_day: dt.date
) -> GeneratedBuilding:
    """Generate local days first_day .. end_day - 1 of built-in building `bcfg` at 15 min."""
    gen, name, tz = _plain(bcfg.generator), str(bcfg.id), str(bcfg.timezone)
    days = [first_day + dt.timedelta(days=k) for k in range((end_day - first_day).days)]
    day_idx = [day_index(d, tz) for d in days]
    index = day_idx[0].append(day_idx[1:]) if len(day_idx) > 1 else day_idx[0]
    offsets = np.cumsum([0] + [len(i) for i in day_idx])
    consumption = np.zeros(len(index))
    pv = np.zeros(len(index))
    price = np.zeros(len(index))
    runs: list[Cycle] = []
    for d, idx, off in zip(days, day_idx, offsets[:-1], strict=True):
        weather = day_weather(seed, d)
        sl = slice(off, off + len(idx))
        consumption[sl] += _household_load(gen, name, seed, d, idx, weather.temperature_c)
        if gen.pv_kwp > 0:
            mid_utc = (idx + pd.Timedelta(minutes=STEP_MIN / 2)).tz_convert("UTC")
            clearness = intraday_clearness(seed, d, weather, len(idx))
            pv[sl] = gen.pv_kwp * clear_sky_kw_per_kwp(mid_utc) * clearness * STEP_H
        price[sl] = hourly_prices(seed, d, weather, _summerness(d))[idx.hour]
        runs += _after_earlier_runs(runs, _appliance_runs(gen, name, seed, d, tz))

    frame = pd.DataFrame(index=index)
    shiftable = list(bcfg.shiftable)
    unknown = [d for d in shiftable if d not in gen.appliances]
    if unknown:
        raise GeneratorError(
            f"building.shiftable={shiftable}: {unknown} has no generator.appliances profile; "
            f"allowed: {sorted(gen.appliances)}"
        )
    for dev in sorted(gen.appliances):
        col = _device_energy(index, [c for c in runs if c.device == dev])
        consumption += col
        if dev in shiftable:
            frame[device_column(dev)] = col
    trips: list[EVTrip] = []
    if gen.has_ev:
        trips = ev_trips(gen, name, seed, days, tz)
        ev = charge_on_arrival(index, trips, gen.ev_charger_kw, gen.ev_charge_efficiency)
        frame[OBSERVED_EV] = ev
        consumption += ev
    frame[CONSUMPTION] = consumption
    frame[PV] = pv
    frame[PRICE] = price
    return GeneratedBuilding(frame=frame, cycles=runs, ev_trips=trips)
