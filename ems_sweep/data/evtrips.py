"""EV trips from metered charging: each charging session implies a trip before it.

The meter shows only when the car charged, not when it was away. A session that starts at time
t means the car came back at t (the baseline charges on arrival) having used the session's energy
times the charging efficiency. It is assumed to have left at the building's usual departure hour
that day (`generator.ev_departure_hour_mean`) if the car was home then, otherwise halfway between
the previous session's end and this arrival.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ems_sweep.data.cycles import runs_above
from ems_sweep.data.model import EVTrip

SESSION_THRESHOLD_KW = 0.5  # a session draws more than this at least once
TAPER_THRESHOLD_KW = 0.05  # ... and lasts while it draws more than this (ramp-up, taper)


def charging_sessions(values: np.ndarray, dt_h: float) -> list[tuple[int, int]]:
    """(start, end) steps of each session: a run above SESSION_THRESHOLD_KW widened over the
    neighbouring steps still above TAPER_THRESHOLD_KW, so a session holds all the car took;
    below that the meter shows the charger's standby, which stays in the fixed load."""
    v = np.nan_to_num(np.asarray(values, dtype=float))
    taper = TAPER_THRESHOLD_KW * dt_h
    out: list[tuple[int, int]] = []
    for s, e in runs_above(v, SESSION_THRESHOLD_KW * dt_h):
        lo = out[-1][1] if out else 0
        while s > lo and v[s - 1] > taper:
            s -= 1
        while e < len(v) and v[e] > taper and v[e] <= SESSION_THRESHOLD_KW * dt_h:
            e += 1
        out.append((s, e))
    return out


def session_energy(ev_kwh: pd.Series, dt_h: float) -> np.ndarray:
    """The metered EV energy per step that belongs to a charging session (else 0)."""
    values = np.nan_to_num(ev_kwh.to_numpy(dtype=float))
    out = np.zeros(len(values))
    for s, e in charging_sessions(values, dt_h):
        out[s:e] = values[s:e]
    return out


def trips_from_charging(
    ev_kwh: pd.Series, dt_h: float, efficiency: float, departure_hour: float
) -> list[EVTrip]:
    """One trip per charging session of the metered EV energy series (kWh per step)."""
    values = ev_kwh.to_numpy(dtype=float)
    index = ev_kwh.index
    step = index[1] - index[0]
    trips: list[EVTrip] = []
    prev_end: pd.Timestamp | None = None
    for s, e in charging_sessions(values, dt_h):
        arrival = index[s]
        usual = arrival.normalize() + pd.Timedelta(hours=departure_hour)
        usual = usual.floor(step, ambiguous=True, nonexistent="shift_backward")
        if usual < arrival and (prev_end is None or usual >= prev_end):
            departure = usual
        elif prev_end is not None and prev_end < arrival:
            departure = (prev_end + (arrival - prev_end) / 2).floor(step)
        else:
            departure = arrival - step
        energy = float(values[s:e].sum() * efficiency)
        trips.append(EVTrip(departure=departure, arrival=arrival, energy_kwh=round(energy, 3)))
        prev_end = index[e] if e < len(index) else index[-1] + step
    return trips


def snap_trip(trip: EVTrip, resolution_min: int) -> EVTrip:
    """Trip times on the run's step grid: the car leaves at its step's start and counts as back
    from the step after it arrives, so it is never at home for a step it was partly away."""
    freq = f"{resolution_min}min"
    return EVTrip(
        departure=trip.departure.floor(freq, ambiguous=True, nonexistent="shift_backward"),
        arrival=trip.arrival.ceil(freq, ambiguous=True, nonexistent="shift_forward"),
        energy_kwh=trip.energy_kwh,
    )
