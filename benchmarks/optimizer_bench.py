"""Optimizer benchmark: model build, solve and check times per mode, resolution and solver.

Not a test. Runs built-in building res4 (PV, battery, EV) for 1 day at 60 and 15 min and for
7 days at 60 min, in every mode, with HiGHS and CBC, and writes a table between the optimizer
markers of benchmarks/README.md (other sections of that file are left alone).

    python benchmarks/optimizer_bench.py            # full table (~1-2 min on one core)
    python benchmarks/optimizer_bench.py --no-write # print only

Columns: build = PuLP model construction; solve = wall time of prob.solve (includes PuLP's
transfer of the model to the solver); solver = the solver's own run time (HiGHS reports it;
CBC runs as a subprocess, so only the wall time exists); check = independent checker;
overhead = build + check, the Python side that issue 9 wants below the solve time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from pathlib import Path

from hydra import compose, initialize_config_module

from ems_sweep.config import register_configs, typed
from ems_sweep.data import load_building
from ems_sweep.optimize import MODES, check_schedule, end_state, initial_state, optimize_day

README = Path(__file__).with_name("README.md")
START, END = "<!-- optimizer-bench:start -->", "<!-- optimizer-bench:end -->"
CASES = [("1 day", 60, 1), ("1 day", 15, 1), ("7 days", 60, 7)]


def run_case(solver: str, mode: str, resolution: int, n_days: int, building: str) -> dict:
    with initialize_config_module("ems_sweep.conf", version_base=None):
        composed = compose(
            "config",
            overrides=[
                f"building={building}",
                "ev=default",
                "battery=default",
                f"mode={mode}",
                f"solver={solver}",
                f"resolution_min={resolution}",
                f"n_days={n_days}",
                "tracking=none",
            ],
        )
    cfg = typed(composed)  # as a job's entry converts it (pipelines/runner.py)
    data = load_building(cfg)
    state = initial_state(cfg)
    tot = dict(build=0.0, solve=0.0, solver=0.0, check=0.0, wall=0.0, violations=0)
    sizes: list[tuple[int, int, int]] = []
    statuses: set[str] = set()
    for date in data.days():
        day = data.day(date)
        started = time.perf_counter()
        sched = optimize_day(day, cfg, state)
        tot["wall"] += time.perf_counter() - started
        t0 = time.perf_counter()
        tot["violations"] += len(check_schedule(sched, day, cfg))
        tot["check"] += time.perf_counter() - t0
        st = sched.stats
        tot["build"] += st.build_s
        tot["solve"] += st.solve_s
        tot["solver"] += st.solver_run_s or 0.0
        sizes.append((st.n_variables, st.n_constraints, st.n_binaries))
        statuses.add(st.status)
        state = end_state(sched)
    tot["days"] = len(data.days())
    tot["size"] = tuple(int(statistics.mean(s[i] for s in sizes)) for i in range(3))
    tot["status"] = ",".join(sorted(statuses))
    return tot


def table(rows: list[tuple[str, str, str, dict]]) -> str:
    head = (
        "| solver | mode | case | days | vars / cons / bins (per day) | build s | solve s "
        "| solver s | check s | overhead / solve | status | violations |\n"
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|\n"
    )
    lines = []
    for solver, mode, case, r in rows:
        overhead = r["build"] + r["check"]
        ratio = f"{overhead / r['solve']:.2f}" if r["solve"] > 0 else "n/a (no solver)"
        solver_s = f"{r['solver']:.3f}" if r["solver"] > 0 else "-"
        v, c, b = r["size"]
        lines.append(
            f"| {solver} | {mode} | {case} | {r['days']} | {v} / {c} / {b} | {r['build']:.3f} "
            f"| {r['solve']:.3f} | {solver_s} | {r['check']:.3f} | {ratio} | {r['status']} "
            f"| {r['violations']} |"
        )
    return head + "\n".join(lines) + "\n"


def write_readme(text: str) -> None:
    section = f"{START}\n{text}{END}"
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    if START in old and END in old:
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: section, old, flags=re.S)
    else:
        new = (
            old.rstrip("\n")
            + "\n\n## Optimizer (benchmarks/optimizer_bench.py)\n\n"
            + section
            + "\n"
        )
    README.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--building", default="res4")
    parser.add_argument("--solvers", default="highs,cbc")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest counts")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    register_configs()
    rows = []
    for solver in args.solvers.split(","):
        for mode in MODES:
            for case, resolution, n_days in CASES:
                label = f"{case} @ {resolution} min"
                runs = [
                    run_case(solver, mode, resolution, n_days, args.building)
                    for _ in range(args.repeat)
                ]
                r = min(runs, key=lambda x: x["build"] + x["solve"] + x["check"])
                rows.append((solver, mode, label, r))
                print(solver, mode, label, {k: v for k, v in r.items()}, flush=True)
    text = (
        f"Building `{args.building}` with `battery=default ev=default tariff=dynamic`, start "
        f"2016-06-01, times summed over the days; {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, threads=1, mip_gap=0.001, fastest of "
        f"{args.repeat} runs per case, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores (a shared machine: read ratios, not absolute times). "
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n" + table(rows)
    )
    print(text)
    if not args.no_write:
        write_readme(text)


if __name__ == "__main__":
    main()
