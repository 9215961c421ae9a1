"""Import and export prices per step for the configured tariff (EUR/kWh)."""

from __future__ import annotations

import numpy as np

from ems_sweep.config import EmsConfig, TariffKind
from ems_sweep.data.model import DayData


def tariff_prices(day: DayData, cfg: EmsConfig) -> tuple[np.ndarray, np.ndarray]:
    """(import, export) EUR/kWh per step of `day`.

    dynamic: (day-ahead + network fee + levies) x (1 + VAT); flat: one price; tou: peak price in
    the local hours listed in tariff.peak_hours, off-peak otherwise. Export: the fixed feed-in rate.
    """
    t = cfg.tariff
    n = day.n_steps
    kind = t.kind
    if kind == TariffKind.dynamic:
        da = np.asarray(day.day_ahead_eur_per_kwh, dtype=float)
        if da.shape != (n,) or np.isnan(da).any():
            bad = int(np.isnan(da).sum()) if da.shape == (n,) else da.shape
            raise ValueError(
                f"tariff.kind=dynamic needs a day-ahead price at every step of {day.date}; "
                f"missing/bad: {bad}. Use tariff=flat or tariff=tou, or data with prices."
            )
        imp = (da + t.network_fee_eur_per_kwh + t.levies_eur_per_kwh) * (1.0 + t.vat)
    elif kind == TariffKind.flat:
        imp = np.full(n, float(t.flat_price_eur_per_kwh))
    elif kind == TariffKind.tou:
        peak = np.isin(np.asarray(day.index.hour), list(t.peak_hours))
        imp = np.where(peak, float(t.peak_price_eur_per_kwh), float(t.offpeak_price_eur_per_kwh))
    else:
        raise ValueError(f"tariff.kind={kind!r}; allowed: dynamic, flat, tou")
    exp = np.full(n, float(t.feed_in_eur_per_kwh))
    return imp.astype(float), exp
