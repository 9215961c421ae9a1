"""The physical schedule of a model solution: the grid absorbs the real profile's difference."""

from __future__ import annotations

from dataclasses import astuple

import numpy as np

from ems_sweep.optimize.realize import realized_exchange
from ems_sweep.optimize.table import GridFlows


def test_grid_absorbs_the_difference_and_curtails_only_beyond_the_export_limit():
    imp = np.array([0.5, 0.0, 0.0])
    exp = np.array([0.0, 0.2, 1.0])
    curt = np.array([0.0, 0.0, 0.3])
    pv = np.array([0.0, 1.0, 2.0])
    block = np.array([2 / 3, 2 / 3, 2 / 3])
    real = np.array([1.0, 0.2, 0.8])
    model = GridFlows(imp, exp, curt)
    i, e, c = astuple(realized_exchange(model, pv, block, real, export_limit_kwh=1.2))
    np.testing.assert_allclose(i, [0.5 + 1 / 3, 0.0, 0.0])  # more drawn: imported
    # step 1: 0.467 kWh less drawn, exported (below the limit); step 2: 0.133 more, exported less
    np.testing.assert_allclose(e, [0.0, 0.2 + 0.4667, 1.0 - 0.1333], atol=1e-4)
    np.testing.assert_allclose(c, curt)
    # the export limit: what does not fit is curtailed, never more than the PV left
    i, e, c = astuple(realized_exchange(model, pv, block, real, export_limit_kwh=0.5))
    np.testing.assert_allclose(e, [0.0, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(c, [0.0, 0.2 + 0.4667 - 0.5, 0.3 + 0.8667 - 0.5], atol=1e-4)
    balance_model = imp - exp - curt - block  # = -pv + other flows, unchanged
    balance_real = i - e - c - real
    np.testing.assert_allclose(balance_model, balance_real, atol=1e-9)
