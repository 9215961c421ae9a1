"""Run a PuLP problem on the configured solver and report what happened, honestly.

PuLP may say "Optimal" when a MIP stopped at the time limit with an incumbent; the solution
status (sol_status) tells the difference, so both are read. HiGHS is called in-process (its own
run time and MIP gap come from highspy); CBC runs as a subprocess in a private temp folder so
parallel jobs never share files, and its gap is read from its log.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pulp

from ems_sweep.config import EmsConfig, SolverName


@dataclass
class SolveOutcome:
    status: str  # Optimal | TimeLimit (feasible, not proven) | Infeasible | Unbounded | NotSolved
    objective: float | None
    mip_gap: float | None
    solve_s: float
    solver_run_s: float | None


def _status(prob: pulp.LpProblem) -> str:
    sol = prob.sol_status
    if sol == pulp.LpSolutionOptimal:
        return "Optimal"
    if sol == pulp.LpSolutionIntegerFeasible:
        return "TimeLimit"
    if sol == pulp.LpSolutionInfeasible or prob.status == pulp.LpStatusInfeasible:
        return "Infeasible"
    if sol == pulp.LpSolutionUnbounded or prob.status == pulp.LpStatusUnbounded:
        return "Unbounded"
    return "NotSolved"


def _cbc_gap(log: str, objective: float | None) -> float | None:
    """Relative MIP gap from CBC's log (it prints no gap line when it proves optimality)."""
    scale = max(abs(objective or 0.0), 1e-10)
    early = re.findall(r"Exiting as integer gap of ([-0-9.eE+]+)", log)
    if early:
        return float(early[-1]) / scale
    if "Search completed" in log:
        return 0.0
    partial = re.findall(r"best objective ([-0-9.eE+]+) \(best possible ([-0-9.eE+]+)\)", log)
    if partial:
        best, bound = (float(v) for v in partial[-1])
        return abs(best - bound) / max(abs(best), 1e-10)
    return None


@functools.cache
def _swallow_highs_banner() -> None:
    """Print HiGHS' once-per-process copyright banner into /dev/null (one per sweep worker).

    HiGHS writes it from C++ to file descriptor 1 when the first Highs object is built, before
    PuLP can set output_flag; building that first object with fd 1 pointed away keeps it out.
    """
    import highspy

    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def solve(prob: pulp.LpProblem, cfg: EmsConfig, has_integers: bool) -> SolveOutcome:
    s = cfg.solver
    name = cfg.solver.name
    started = time.perf_counter()
    run_s: float | None = None
    gap: float | None = None
    if name == SolverName.highs:
        if not s.msg:
            _swallow_highs_banner()
        solver = pulp.HiGHS(
            msg=bool(s.msg),
            timeLimit=float(s.time_limit_s),
            gapRel=float(s.mip_gap),
            threads=int(s.threads),
            random_seed=0,
        )
        prob.solve(solver)
        model = getattr(prob, "solverModel", None)
        if model is not None:
            run_s = float(model.getRunTime())
            info = model.getInfo()
            gap = float(info.mip_gap) if has_integers else 0.0
    elif name == SolverName.cbc:
        tmp = Path(tempfile.mkdtemp(prefix="ems_cbc_"))
        try:
            with warnings.catch_warnings():  # deprecated in PuLP 4; it is the bundled CBC here
                warnings.simplefilter("ignore", DeprecationWarning)
                solver = pulp.PULP_CBC_CMD(
                    msg=False,
                    timeLimit=float(s.time_limit_s),
                    gapRel=float(s.mip_gap),
                    threads=int(s.threads),
                    logPath=str(tmp / "cbc.log"),
                    options=["randomCbcSeed 1"],
                )
            solver.tmpDir = str(tmp)
            prob.solve(solver)
            log = (tmp / "cbc.log").read_text() if (tmp / "cbc.log").exists() else ""
            gap = _cbc_gap(log, pulp.value(prob.objective)) if has_integers else 0.0
            if s.msg:
                print(log)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        raise ValueError(f"solver.name={name!r}; allowed: highs, cbc")
    elapsed = time.perf_counter() - started
    status = _status(prob)
    objective = pulp.value(prob.objective) if status in ("Optimal", "TimeLimit") else None
    if status == "Optimal" and gap is not None and (gap != gap or gap > 1e30):  # nan/inf: LP
        gap = 0.0
    return SolveOutcome(status, objective, gap, elapsed, run_s)
