"""Where the saving comes from: the period's saving split into appliances, battery and EV.

The players are the flexibilities the hardware has (appliance shifting when the period has
cycles, the battery, the EV). A coalition S is a full period run of the optimized schedule in
which every flexibility outside S is "off", i.e. fixed in the MILP to what the baseline does
(fixing.py): cycles at their observed starts, the battery's charge/discharge = the baseline
self-consumption controller's flows of that day, EV charging = the baseline's charge on arrival.
Every run has the job's horizon, state carry, warm start and end-of-period rule, and its value
v(S) is its period saving exactly as the job reports it (savings_eur: operational saving plus
end_storage_value_eur). v(empty) = 0 (the baseline itself) and v(all) = the job's own saving
(its runs are reused), so the Shapley values

    phi_i = sum_{S subset of N - {i}} |S|! (n - |S| - 1)! / n! (v(S + {i}) - v(S))

sum exactly to the job's savings_eur.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from omegaconf import DictConfig

from ems_sweep.data.model import BuildingData
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize.battery import battery_params
from ems_sweep.optimize.fixing import APPLIANCES, BATTERY, EV, FAMILIES
from ems_sweep.pipelines.days import DayRun, RunOptions, Timings, run_days
from ems_sweep.pipelines.kpis import job_metrics

log = logging.getLogger(__name__)

LABELS = {APPLIANCES: "appliance shifting", BATTERY: "battery", EV: "EV"}
SUM_TOLERANCE_EUR = 1e-9

Coalition = frozenset[str]


def metric_name(player: str) -> str:
    """summary.json key of a player's share in EUR (`attribution_<player>_pct` beside it)."""
    return f"attribution_{player}_eur"


def players(building: BuildingData, dates: Sequence[dt.date], cfg: DictConfig) -> list[str]:
    """The flexibilities the job has: no battery or no EV, no player; no cycle, no shifting."""
    out = []
    if any(slice_day(building, d).cycles for d in dates):
        out.append(APPLIANCES)
    if battery_params(cfg) is not None:
        out.append(BATTERY)
    if cfg.ev.enabled:
        out.append(EV)
    return out


def period_saving(runs: Sequence[DayRun]) -> tuple[float, int]:
    """(savings_eur of the period as the job reports it, days not ok) of one run of the days."""
    daily = pd.DataFrame([r.row for r in runs])
    metrics = job_metrics(daily)
    return float(metrics.get("savings_eur", 0.0)), int(metrics["days_failed"])


def shapley(names: Sequence[str], value: Callable[[Coalition], float]) -> dict[str, float]:
    """Shapley value of each player for the coalition function `value` (see module docstring)."""
    n = len(names)
    out = {}
    for i in names:
        others = [p for p in names if p != i]
        phi = 0.0
        for k in range(n):
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for members in itertools.combinations(others, k):
                s = frozenset(members)
                phi += weight * (value(s | {i}) - value(s))
        out[i] = phi
    return out


@dataclass
class Attribution:
    """The split, the coalition values it came from and the days that failed on the way."""

    players: list[str]
    savings_eur: float
    shares: dict[str, float]
    values: dict[Coalition, float]
    days_failed: int
    seconds: float

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in FAMILIES:
            eur = self.shares.get(p, 0.0)
            out[metric_name(p)] = eur
            pct = 100.0 * eur / self.savings_eur if abs(self.savings_eur) > 1e-9 else math.nan
            out[metric_name(p).replace("_eur", "_pct")] = pct
        out["attribution_days_failed"] = float(self.days_failed)
        out["time_attribution_s"] = self.seconds
        return out

    def section(self) -> str:
        """The report.md section: the split and every coalition's saving."""
        rows = [
            f"| {LABELS[p]} | {self.shares[p]:.3f} | "
            + (
                f"{100.0 * self.shares[p] / self.savings_eur:.1f}"
                if abs(self.savings_eur) > 1e-9
                else "n/a"
            )
            + " |"
            for p in self.players
        ]
        coalitions = [
            f"| {', '.join(LABELS[p] for p in self.players if p in s) or 'none (baseline)'} "
            f"| {v:.3f} |"
            for s, v in sorted(self.values.items(), key=lambda sv: (len(sv[0]), sorted(sv[0])))
        ]
        lines = [
            "## Where the saving comes from",
            "",
            "Shapley values over the flexibilities the hardware has; a flexibility that is off "
            "behaves as in the baseline (cycles at their observed starts, the battery's and the "
            "EV's flows fixed to the baseline's of each day), every coalition a full period run "
            "with the same horizon, state carry and end-of-period rule. The shares sum to the "
            f"period's savings ({self.savings_eur:.3f} EUR). Each coalition's saving includes "
            "its own end-of-period figure under the job's pipeline.end_storage rule (as "
            "savings_eur does), so the end-of-period storage is split with the rest.",
            "",
            "| flexibility | EUR | % of saving |",
            "|---|---|---|",
            *rows,
            "",
            "| flexibilities on | period saving (EUR) |",
            "|---|---|",
            *coalitions,
            "",
        ]
        if self.days_failed:
            lines += [
                f"{self.days_failed} coalition day(s) failed and count as the baseline (no saving "
                "that day), as in the job itself; see the job log.",
                "",
            ]
        return "\n".join(lines)


def attribute(
    building: BuildingData,
    dates: Sequence[dt.date],
    cfg: DictConfig,
    job_runs: Sequence[DayRun],
) -> Attribution:
    """Run the coalitions between the baseline and the job's own result and split its saving."""
    started = time.perf_counter()
    names = players(building, dates, cfg)
    full, _ = period_saving(job_runs)
    failed = 0
    values: dict[Coalition, float] = {frozenset(): 0.0, frozenset(names): full}
    for k in range(1, len(names)):
        for members in itertools.combinations(names, k):
            on = frozenset(members)
            off = tuple(p for p in names if p not in on)
            log.info("Attribution: coalition %s on, %s off", sorted(on), list(off))
            runs = run_days(building, list(dates), cfg, Timings(), RunOptions(fixed=off))
            values[on], n_failed = period_saving(runs)
            failed += n_failed
    shares = shapley(names, values.__getitem__)
    total = sum(shares.values())
    assert not names or abs(total - full) <= SUM_TOLERANCE_EUR * max(1.0, abs(full)), (total, full)
    return Attribution(names, full, shares, values, failed, time.perf_counter() - started)
