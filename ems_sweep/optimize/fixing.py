"""Flexibilities held at given flows: what "this device behaves as in the baseline" means.

The attribution pipeline (pipelines/attribution.py) switches a flexibility off by fixing its
variables in the same MILP, not by another code path. Each device module has one small family
for it (appliances.appliances_fixed, battery.battery_fixed, ev.ev_fixed); build_model adds the
families named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.schedule import DaySchedule

APPLIANCES = "appliances"
BATTERY = "battery"
EV = "ev"
FAMILIES = (APPLIANCES, BATTERY, EV)


@dataclass(frozen=True)
class FixedFlows:
    """The families fixed in one model and the flows they are fixed to (kWh per step)."""

    appliances: bool = False  # every cycle at its observed start
    battery: tuple[np.ndarray, np.ndarray] | None = None  # (charge, discharge), grid side
    ev_charge: np.ndarray | None = None  # grid-side charge (no V2G discharge)


def baseline_flows(families: Sequence[str], baselines: Sequence[DaySchedule]) -> FixedFlows:
    """`families` fixed to the baseline's flows of the given consecutive days (a horizon)."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown flexibility {unknown}; allowed: {', '.join(FAMILIES)}")

    def column(name: str) -> np.ndarray:
        return np.concatenate([b.table[name].to_numpy(dtype=float) for b in baselines])

    return FixedFlows(
        appliances=APPLIANCES in families,
        battery=(column(S.BATTERY_CHARGE), column(S.BATTERY_DISCHARGE))
        if BATTERY in families
        else None,
        ev_charge=column(S.EV_CHARGE) if EV in families else None,
    )
