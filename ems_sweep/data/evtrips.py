"""EV trips from metered charging: each charging session implies a trip before it.

The meter shows only when the car charged, not when it was away. A session that starts at time
t means the car came back at t (the baseline charges on arrival) having used the session's energy
times the charging efficiency. It is assumed to have left at the building's usual departure hour
that day (`generator.ev_departure_hour_mean`) if the car was home then, otherwise halfway between
the previous session's end and this arrival.
"""

from __future__ import annotations

import pandas as pd

from ems_sweep.data.cycles import runs_above
from ems_sweep.data.model import EVTrip

SESSION_THRESHOLD_KW = 0.5  # below this the charger is idle (standby, balancing)


def trips_from_charging(
    ev_kwh: pd.Series, dt_h: float, efficiency: float, departure_hour: float
) -> list[EVTrip]:
    """One trip per charging session of the metered EV energy series (kWh per step)."""
    values = ev_kwh.to_numpy(dtype=float)
    index = ev_kwh.index
    step = index[1] - index[0]
    trips: list[EVTrip] = []
    prev_end: pd.Timestamp | None = None
    for s, e in runs_above(values, SESSION_THRESHOLD_KW * dt_h):
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
