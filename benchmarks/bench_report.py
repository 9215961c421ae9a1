"""Markdown of the sweep benchmark: machine, sweeps, per-job split, start-up, scale run, targets.

Kept apart from the runner so that the figures behind each target are defined in one place
(`speedup`, `tracking_share`, `fixed_per_job`, `overhead_vs_solve`).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_analysis import PIPELINE_PARTS

if TYPE_CHECKING:
    from sweep_bench import Scale, Startup, SweepRun

BEGIN = "<!-- sweep-bench:begin (written by benchmarks/sweep_bench.py) -->"
END = "<!-- sweep-bench:end -->"
SECTION_INTRO = """## Sweep benchmark (benchmarks/sweep_bench.py)

`python benchmarks/sweep_bench.py` (about 20-30 min on 2 idle cores) runs real sweeps through
the CLI, `python -m ems_sweep ... -m`, each in a fresh temp dir with its own `outputs/` and an
empty MLflow store, and regenerates the table between the markers below; `--quick` runs tiny
sizes and only prints; `--from-json /tmp/sweep_bench_last.json` re-renders the last run.

- Sweeps: 7 built-in buildings x `centralized`, `centralized_phases` x 7 days at 15 min and
  at 60 min, each with `hydra/launcher=basic` and with joblib `hydra.launcher.n_jobs=2`,
  back to back (speedup = basic wall / joblib wall). Scale run: 7 buildings x 3 modes x 3
  batteries x 3 EV options, 1 day each (189 jobs, joblib), then
  `python -m ems_sweep.analysis.compare` on it and `POST /api/2.0/mlflow/runs/search`
  (max_results=1000) against an `mlflow server`
  started on a free 127.0.0.1 port. Runs are counted in the store: child runs must equal
  jobs, all FINISHED.
- How it splits the time: a probe callback, `benchmarks/bench_callback.py`, is added from
  the command line (`+hydra.callbacks.bench=...`). It runs in every process (launcher and
  joblib workers) and writes timestamps per job, the process start time (from /proc), peak
  RSS (`getrusage`) and the duration of each hook of the project's callbacks (MLflow
  tracking) and of Hydra's per-job compose, which it wraps with timers. The task is split
  by the pipeline's own timers (`time_*_s` in each job's summary.json).
- Start-up probes: `python -c pass`, `import ems_sweep.__main__`, `--cfg job`, a 1-job run
  with `tracking=none`, and `python -X importtime` of a job process.

"""
PACKAGES = [
    "hydra-core",
    "hydra-joblib-launcher",
    "omegaconf",
    "mlflow",
    "pulp",
    "highspy",
    "pandas",
    "numpy",
    "joblib",
    "matplotlib",
    "sqlalchemy",
]


def machine(repo: Path) -> dict[str, Any]:
    """Where and with what the figures were measured."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "-"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "ems_sweep", "conf"],
        cwd=repo,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return {
        "dirty": [line[3:] for line in dirty],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load": os.getloadavg(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
    }


def f1(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def f2(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---- the figures behind the targets --------------------------------------------------------


def speedup(runs: list[SweepRun], run: SweepRun) -> float | None:
    """basic wall / joblib wall of the same sweep spec."""
    if run.launcher != "joblib":
        return None
    basic = next((r for r in runs if r.spec == run.spec and r.launcher == "basic"), None)
    return basic.timing.wall_s / run.timing.wall_s if basic else None


def tracking_share(run: SweepRun) -> float:
    """MLflow job hooks as a share of each job's wall (its window + the Hydra gap before it)."""
    jobs = run.timing.jobs
    return statistics.fmean(j.tracking_s / j.share_s for j in jobs) if jobs else 0.0


def tracking_sweep_share(run: SweepRun) -> float:
    """All MLflow time (job hooks + parent run set-up/end) over the summed worker time."""
    t = run.timing
    busy = sum(j.share_s for j in t.jobs) + t.startup_s + t.teardown_s
    return (sum(j.tracking_s for j in t.jobs) + t.tracking_sweep_s) / busy if busy else 0.0


def fixed_per_job(run: SweepRun) -> float:
    """Per job, what does not depend on its work: start-up and exit shared out, the Hydra gap."""
    t = run.timing
    return (t.startup_s + t.teardown_s) / max(t.n, 1) + t.mean_gap()


def overhead_vs_solve(run: SweepRun) -> tuple[float, float]:
    """(wall minus solver calls, solver calls) over the whole sweep, seconds."""
    solve = sum(j.parts["solve"] for j in run.timing.jobs)
    return run.timing.wall_s - solve, solve


# ---- sections ------------------------------------------------------------------------------


def measuring_args(argv: list[str]) -> list[str]:
    """The command-line options that change what is measured (not where output goes)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--readme", "--from-json"):
            skip = True
        elif arg not in ("--write", "--no-write", "--keep") and not arg.startswith("--json="):
            out.append(arg)
    return out


def header(info: dict[str, Any], argv: list[str]) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    argv = measuring_args(argv)
    dirty = info.get("dirty") or []
    local = f" plus uncommitted changes to {', '.join(dirty)}" if dirty else ""
    return [
        f"Measured {info['date']} at commit `{info['commit']}`{local} with "
        f"`python benchmarks/sweep_bench.py{''.join(' ' + a for a in argv)}`.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), load "
        f"average at start {info['load'][0]:.2f}; Python {info['python']}; {versions}.",
    ]


def sweeps_section(all_runs: list[SweepRun]) -> list[str]:
    headers = ["sweep", "launcher", "jobs", "wall s", "jobs/min", "speedup", "start-up s"]
    headers += ["of it validation s", "MLflow sweep s", "exit s (atexit, finalize)"]
    headers += ["failed", "child runs"]
    headers += ["runs not FINISHED"]
    headers += ["peak RSS/worker MB"]
    rows = []
    for r in all_runs:
        t, s = r.timing, speedup(all_runs, r)
        rows.append(
            [
                r.spec,
                "basic" if r.launcher == "basic" else "joblib n_jobs=2",
                str(r.n_expected),
                f1(t.wall_s),
                f1(r.jobs_per_min),
                f"{s:.2f}x" if s else "",
                f1(t.startup_s),
                f1(t.validate_s),
                f1(t.tracking_sweep_s),
                f"{f1(t.teardown_s)} ({f1(t.atexit_s)}, {f1(t.finalize_s)})",
                str(r.failed),
                f"{r.store.children}/{r.n_expected}" if r.store else "?",
                str(r.store.failed) if r.store else "?",
                f"{max(t.peak_rss_mb.values(), default=0):.0f}",
            ]
        )
    return [
        "**Sweeps** (wall time of the whole CLI call, each in a fresh temp dir with an empty "
        "MLflow store; start-up = launch to first job; validation = Hydra's sweeper composing "
        "every job's config once in the launcher before any job starts (the launcher composes "
        "it again per job); MLflow sweep = parent run set-up and end)",
        "",
        table(headers, rows),
    ]


def per_job_section(all_runs: list[SweepRun]) -> list[str]:
    parts = list(PIPELINE_PARTS)
    rows = []
    for r in all_runs:
        t = r.timing
        rest = t.mean("task_s") - sum(t.mean_part(p) for p in parts)
        share = statistics.fmean(j.share_s for j in t.jobs) if t.jobs else 0.0
        rows.append(
            [
                r.spec,
                r.launcher,
                f2(share),
                f2(t.mean_gap()),
                f2(t.compose_s),
                f2(t.save_config_s),
                f2(t.configure_log_s),
                f"{f2(t.mean('tracking_s'))} ({f2(t.mean('tracking_reported_s'))})",
                f2(t.mean("task_s")),
                *(f2(t.mean_part(p)) for p in parts),
                f2(rest),
            ]
        )
    headers = [
        "sweep",
        "launcher",
        "share",
        "Hydra gap",
        "of it compose",
        "save .hydra",
        "log set-up",
        "MLflow job (own)",
        "task",
    ]
    headers += parts
    return [
        "**Per job** (mean seconds; `share` = the job's part of its worker's time: callback "
        "window + the Hydra gap before it; the pipeline parts are its own time_*_s timers)",
        "",
        table([*headers, "task rest"], rows),
        "",
        "`Hydra gap` = composing the next job's config (`compose`, Hydra's load_sweep_config), "
        "its dir and `.hydra/` files, logging set-up, dispatch. `MLflow job` = the tracking "
        "callback's job hooks as timed by the probe (in brackets: the callback's own "
        "`tracking_seconds` from mlflow_run.json). "
        "`task rest` = task minus the pipeline's timers: validation, the lazy imports of the "
        "first job in a process (pandas, PuLP, matplotlib), result assembly.",
    ]


def startup_section(st: Startup) -> list[str]:
    rows = [
        ["`python -c pass` (interpreter)", f2(st.interpreter_s)],
        ["`python -c 'import ems_sweep.__main__'`", f2(st.entry_import_s)],
        ["`python -m ems_sweep --cfg job` (imports + compose)", f2(st.cfg_job_s)],
        ["1 job, tracking=none: launch to job start", f2(st.single_startup_s)],
        ["1 job, tracking=none: job end to exit", f2(st.single_teardown_s)],
        ["1 job, tracking=none: task (1 day, 60 min)", f2(st.single_task_s)],
        ["1 job, tracking=none: wall", f2(st.single_wall_s)],
        ["creating a fresh MLflow SQLite store (once per store)", f2(st.store_init_s)],
        ["all imports of a job process (`-X importtime` self times)", f2(st.imports_total_s)],
    ]
    top = ", ".join(f"{name} {sec:.2f}" for name, sec in st.imports_top)
    return [
        "**Start-up** (median of repeated calls)",
        "",
        table(["piece", "s"], rows),
        "",
        f"Imports of a job process by top-level package (s): {top}.",
    ]


def scale_section(sc: Scale) -> list[str]:
    r = sc.run
    rest = str(sc.rest_runs) if sc.rest_error is None else sc.rest_error
    rows = [
        ["wall s / jobs per min", f"{f1(r.timing.wall_s)} / {f1(r.jobs_per_min)}"],
        ["jobs failed or lost", str(r.failed)],
        ["child runs in the store", str(r.store.children) if r.store else "?"],
        [
            "`python -m ems_sweep.analysis.compare` s (exit code)",
            f"{f2(sc.compare_s)} ({sc.compare_code})",
        ],
        ["`mlflow server` start until /health answers, s", f2(sc.rest_ready_s)],
        [
            "REST `runs/search` (max_results=1000): first / median of 3 more, s",
            f"{f2(sc.rest_first_s)} / {f2(sc.rest_median_s)}",
        ],
        ["runs returned by REST (children + parent)", rest],
    ]
    return [
        f"**Scale run** ({r.spec}: {r.n_expected} jobs of 1 day at 60 min, joblib n_jobs=2, "
        "one fresh store)",
        "",
        table(["figure", "value"], rows),
    ]


def targets(
    all_runs: list[SweepRun], runs: list[SweepRun], startup: Startup | None, scale: Scale | None
) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(name: str, measured: str, ok: bool) -> None:
        rows.append([name, measured, "yes" if ok else "**no**"])

    for r in runs:
        s = speedup(runs, r)
        if s is not None:
            row(f"speedup joblib n_jobs=2 vs basic >= 1.7x ({r.spec})", f"{s:.2f}x", s >= 1.7)
    if all_runs:
        shares = [(r, tracking_share(r), tracking_sweep_share(r)) for r in all_runs]
        text = "; ".join(
            f"{r.spec} {r.launcher}: {pct(s)} per job ({pct(w)} with the parent run)"
            for r, s, w in shares
        )
        row("MLflow logging < 5% of a job's wall", text, max(s for _, s, _ in shares) < 0.05)
    basics = [r for r in runs if r.launcher == "basic"]
    if startup or basics:
        parts, ok = [], True
        if startup:
            single = startup.single_startup_s + startup.single_teardown_s
            parts.append(f"1-job CLI start-up + exit {single:.2f} s")
            ok &= single < 2.0
        for r in basics:
            fixed = fixed_per_job(r)
            parts.append(f"{r.spec} basic: {fixed:.2f} s/job (start-up, exit shared + Hydra gap)")
            ok &= fixed < 2.0
        row("per-job fixed cost < 2 s", "; ".join(parts), ok)
    for r in basics:
        if r.resolution == 15:
            over, solve = overhead_vs_solve(r)
            row(
                f"Python overhead < solver time at 15 min ({r.spec} basic)",
                f"overhead {over:.1f} s vs solve {solve:.1f} s ({over / max(solve, 1e-9):.0f}x)",
                over < solve,
            )
    if all_runs:
        top = max(max(r.timing.peak_rss_mb.values(), default=0.0) for r in all_runs)
        row("peak memory per worker < 500 MB", f"max {top:.0f} MB over all sweeps", top < 500)
    if scale:
        r = scale.run
        children = r.store.children if r.store else 0
        not_finished = r.store.failed if r.store else r.n_expected
        ok = r.failed == 0 and children == r.n_expected and not_finished == 0 and r.returncode == 0
        row(
            f"scale run ({r.n_expected} jobs): 0 failed, none lost",
            f"{r.failed} failed/lost, {children} child runs, {not_finished} not FINISHED, "
            f"exit {r.returncode}",
            ok,
        )
        row("compare over the scale run < 10 s", f"{scale.compare_s:.1f} s", scale.compare_s < 10)
    return rows


def render(
    info: dict[str, Any],
    argv: list[str],
    runs: list[SweepRun],
    startup: Startup | None,
    scale: Scale | None,
) -> str:
    all_runs = [*runs, *([scale.run] if scale else [])]
    out = header(info, argv)
    if all_runs:
        out += ["", *sweeps_section(all_runs), "", *per_job_section(all_runs)]
    if startup:
        out += ["", *startup_section(startup)]
    if scale:
        out += ["", *scale_section(scale)]
    rows = targets(all_runs, runs, startup, scale)
    out += ["", "**Targets**", "", table(["target", "measured", "met"], rows)]
    return "\n".join(out) + "\n"


def write_readme(path: Path, body: str) -> None:
    """Replace the text between the markers; add the section at the end if it is not there."""
    block = f"{BEGIN}\n{body}{END}"
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        section = SECTION_INTRO
        text = (text.rstrip() + "\n\n" if text.strip() else "") + section + block + "\n"
    path.write_text(text)
