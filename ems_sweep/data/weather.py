"""Regional weather of the built-in buildings: sun position, day types, PV yield, temperature.

All built-in buildings share one weather process (they stand in the same town, like the CoSSMic
buildings in Konstanz), so a sweep over buildings sees the same sunny and overcast days. Every
day's weather is drawn from a generator seeded by (seed, day), so a day looks the same whatever
date range is requested; persistence over several days comes from a moving average of daily
draws rather than a Markov chain that would need the whole history.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LATITUDE_DEG = 47.66  # Konstanz
LONGITUDE_DEG = 9.17
PANEL_TILT_DEG = 30.0  # south-facing roof
SYSTEM_EFFICIENCY = 0.85  # inverter, wiring, soiling, temperature

WEATHER_STREAM = 1
# Weights of today's and the previous days' draws: several-day spells of similar weather.
_PERSISTENCE = np.array([1.0, 0.8, 0.6, 0.4, 0.2])
_PERSISTENCE = _PERSISTENCE / np.sqrt(np.sum(_PERSISTENCE**2))


@dataclass(frozen=True)
class DayWeather:
    kind: str  # "clear", "cloudy" or "overcast"
    clearness: float  # day-mean fraction of clear-sky irradiance
    temperature_c: float  # daily mean outdoor temperature


def _summerness(day: dt.date) -> float:
    """0 in late January (coldest, darkest), 1 in late July."""
    doy = day.timetuple().tm_yday
    return 0.5 - 0.5 * np.cos(2 * np.pi * (doy - 20) / 365.25)


def _daily_draw(seed: int, day: dt.date) -> tuple[float, float, float]:
    rng = np.random.default_rng([seed, WEATHER_STREAM, day.toordinal()])
    return rng.standard_normal(), rng.uniform(), rng.standard_normal()


def day_weather(seed: int, day: dt.date) -> DayWeather:
    """The day's weather type, clearness and mean temperature, deterministic in (seed, day)."""
    draws = [_daily_draw(seed, day - dt.timedelta(days=k)) for k in range(len(_PERSISTENCE))]
    z = float(np.dot(_PERSISTENCE, [d[0] for d in draws]))
    u = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))  # uniform in (0, 1), persistent over a few days
    s = _summerness(day)
    p_clear = 0.12 + 0.4 * s  # Konstanz: foggy winters, sunny summers
    p_overcast = 0.55 - 0.4 * s
    own = draws[0]
    if u < p_clear:
        kind, clearness = "clear", 0.9 + 0.08 * own[1]
    elif u > 1 - p_overcast:
        kind, clearness = "overcast", 0.1 + 0.15 * own[1]
    else:
        kind, clearness = "cloudy", 0.35 + (0.35 + 0.15 * s) * own[1]
    anomaly = 3.0 * own[2] + (2.0 if kind == "clear" and s > 0.5 else 0.0)
    anomaly -= 2.0 if kind == "clear" and s < 0.3 else 0.0  # clear winter nights are cold
    temperature = 0.5 + 18.5 * s + anomaly
    return DayWeather(kind, clearness, temperature)


def intraday_clearness(seed: int, day: dt.date, weather: DayWeather, n_steps: int) -> np.ndarray:
    """Clearness per step: steady on clear and overcast days, passing clouds on cloudy days."""
    rng = np.random.default_rng([seed, WEATHER_STREAM, day.toordinal(), 1])
    spread = {"clear": 0.03, "cloudy": 0.25, "overcast": 0.05}[weather.kind]
    noise = np.zeros(n_steps)
    e = rng.standard_normal(n_steps)
    for i in range(n_steps):  # AR(1): clouds last a while
        noise[i] = 0.8 * (noise[i - 1] if i else 0.0) + 0.6 * e[i]
    return np.clip(weather.clearness + spread * noise, 0.05, 1.0)


def clear_sky_kw_per_kwp(step_mid_utc: pd.DatetimeIndex) -> np.ndarray:
    """PV output (kW per kWp) under a clear sky at the given UTC instants, south roof."""
    doy = step_mid_utc.dayofyear.to_numpy()
    hours = (step_mid_utc.hour + step_mid_utc.minute / 60.0).to_numpy()
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    solar_hour = hours + LONGITUDE_DEG / 15.0
    omega = np.radians(15.0 * (solar_hour - 12.0))
    lat = np.radians(LATITUDE_DEG)
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
    tilt_lat = lat - np.radians(PANEL_TILT_DEG)
    cos_incidence = np.sin(tilt_lat) * np.sin(decl) + np.cos(tilt_lat) * np.cos(decl) * np.cos(
        omega
    )
    up = sin_elev > 0.02
    air_mass = np.where(up, 1.0 / np.maximum(sin_elev, 0.02), 50.0)
    beam = 1.353 * 0.7 ** (air_mass**0.678)
    diffuse = 0.1 * beam * up
    power = (beam * np.maximum(cos_incidence, 0.0) + diffuse) * SYSTEM_EFFICIENCY
    return np.where(up, power, 0.0)
