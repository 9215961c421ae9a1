"""Synthetic German day-ahead prices for the built-in buildings (EUR/kWh, hourly products).

The shape follows the 2015-2017 EPEX DE-AT day-ahead market the CoSSMic data was paired with:
a night trough, a morning and a stronger evening peak, a midday dip that deepens on sunny days
(solar feed-in) and on weekends, where sunny spring and summer weekends occasionally go
negative, as do a few windy nights. Like the weather, prices are regional (shared by all built-in
buildings) and each day is drawn from a generator seeded by (seed, day).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ems_sweep.data.weather import DayWeather

PRICE_STREAM = 2

_HOURS = np.arange(24, dtype=float)
# Relative weekday shape by local hour: trough at night, peaks around 08:00 and 19:00.
_SHAPE = (
    0.78
    + 0.5 * np.exp(-0.5 * ((_HOURS - 8.5) / 1.5) ** 2)
    + 0.25 * np.exp(-0.5 * ((_HOURS - 12.0) / 3.0) ** 2)
    + 0.65 * np.exp(-0.5 * ((_HOURS - 19.0) / 1.6) ** 2)
)
_SOLAR_DIP = np.exp(-0.5 * ((_HOURS - 13.0) / 2.2) ** 2)
_NIGHT = np.array([0.6, 0.9, 1.0, 1.0, 1.0, 0.8, 0.5])


def hourly_prices(seed: int, day: dt.date, weather: DayWeather, summerness: float) -> np.ndarray:
    """24 prices (EUR/kWh) by local hour (on DST days a repeated hour repeats its price)."""
    rng = np.random.default_rng([seed, PRICE_STREAM, day.toordinal()])
    weekend = day.weekday() >= 5
    wind = rng.standard_normal()  # windy days are cheap all day, and can go negative at night
    level = 0.031 + 0.006 * (1.0 - summerness) - 0.006 * wind + 0.003 * rng.standard_normal()
    level = max(level, 0.008) * (0.78 if weekend else 1.0)
    solar = 0.018 * weather.clearness * (0.3 + summerness) * (2.0 if weekend else 1.0)
    prices = level * _SHAPE - solar * _SOLAR_DIP
    if wind > 1.4:  # more wind than demand in the night hours
        prices[0:7] -= 0.012 * (wind - 1.0) * _NIGHT
    prices = prices + 0.005 * rng.standard_normal(24)
    return np.round(prices, 5)
