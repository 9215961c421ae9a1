"""Rule-based (solver-free) behaviour used by the baseline and the decentralized mode."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig


def _simulate(
    net_kwh: np.ndarray, cfg: DictConfig, dt_h: float, start: float, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = cfg.battery  # plain floats: OmegaConf attribute access is slow inside the loop
    emax = float(b.soc_max * b.capacity_kwh)
    eta_c, eta_d = float(b.charge_efficiency), float(b.discharge_efficiency)
    max_c, max_d = float(b.max_charge_kw * dt_h), float(b.max_discharge_kw * dt_h)
    n = len(net_kwh)
    ch, dis, energy = [0.0] * n, [0.0] * n, [0.0] * n
    e = start
    for t, net in enumerate(net_kwh.tolist()):
        if net < 0:  # PV surplus: store what fits
            ch[t] = max(0.0, min(-net, max_c, (emax - e) / eta_c))
            e += eta_c * ch[t]
        elif net > 0:  # deficit: cover it down to the floor
            dis[t] = max(0.0, min(net, max_d, (e - floor) * eta_d))
            e -= dis[t] / eta_d
        energy[t] = e
    return np.array(ch), np.array(dis), np.array(energy)


def battery_self_consumption(
    net_kwh: np.ndarray, cfg: DictConfig, dt_h: float, start_kwh: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Charge from PV surplus, discharge to cover load; (charge, discharge, energy) per step.

    `net_kwh` = consumption - PV per step. To respect the day-end rule (end >= start) the battery
    keeps a reserve: it never discharges below the lowest floor (found by bisection between
    soc_min and the start energy) for which the day still ends at or above its start energy.
    """
    n = len(net_kwh)
    if not cfg.battery.enabled or cfg.battery.capacity_kwh <= 0:
        return np.zeros(n), np.zeros(n), np.zeros(n)
    emin = cfg.battery.soc_min * cfg.battery.capacity_kwh
    start = float(start_kwh)
    result = _simulate(net_kwh, cfg, dt_h, start, emin)
    if result[2][-1] >= start - 1e-9 or start <= emin:
        return result
    lo, hi = emin, start  # floor = start always ends >= start
    best = _simulate(net_kwh, cfg, dt_h, start, hi)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        trial = _simulate(net_kwh, cfg, dt_h, start, mid)
        if trial[2][-1] >= start - 1e-9:
            hi, best = mid, trial
        else:
            lo = mid
        if hi - lo < 1e-4:
            break
    return best


def grid_exchange(
    residual_kwh: np.ndarray, cfg: DictConfig, dt_h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(import, export, curtailed) from residual = demand - PV after storage, per step.

    Surplus beyond the export limit is curtailed; import is not capped (the baseline is what
    happened; the checker reports an import above the connection limit).
    """
    imp = np.maximum(residual_kwh, 0.0)
    surplus = np.maximum(-residual_kwh, 0.0)
    exp = np.minimum(surplus, cfg.building.grid_export_limit_kw * dt_h)
    return imp, exp, surplus - exp
