"""The figures of issue 17 in one run: paired, interleaved (A B A B), with the load average.

- 14 jobs (7 buildings x 2 modes, 7 days at 15 min), in rounds, each round the four variants
  back to back: the CLI on the basic launcher, the CLI on its default joblib launcher (2
  workers), the plain loop in one process and on joblib.Parallel(2) (benchmarks/plain_loop.py).
  The ratios are taken per round (paired) and their median reported.
- 128 one-day jobs (4 buildings x 2 modes x 2 batteries x 2 EVs x 4 start dates) and 1,000
  (5 x 2 x 2 x 2 x 25), both on the default joblib launcher with tracking on: wall, launch to
  first job, CPU per job beyond the essential work, plots' share, memory, runs in the store,
  then `compare` and the REST runs/search (what the UI lists) over the store.

CPU comes from the probe (bench_callback: user + system seconds of every process of the sweep
at its last event); essential work = the pipeline's own timers without the plots.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ems_sweep.tracking.sweep import job_count

HERE = Path(__file__).resolve().parent
EXPERIMENT = "Pipeline_A_Comparison"
BUILDINGS = ["res1", "res2", "res3", "res4", "res5", "res6", "ind3"]
ESSENTIAL = (
    "time_data_s",
    "time_baseline_s",
    "time_build_s",
    "time_solve_s",
    "time_optimize_other_s",
    "time_check_s",
    "time_kpis_s",
    "time_files_s",
    "time_report_s",
)
VARIANTS = ("cli basic", "cli joblib(2)", "loop", "loop joblib(2)")


@dataclass
class Measure:
    """One timed call: a CLI sweep or a plain loop."""

    variant: str
    label: str
    jobs: int
    wall_s: float
    load: float  # 1-min load average just before the call
    code: int
    startup_s: float | None = None  # launch -> first job start (CLI only)
    cpu_s: float | None = None  # all processes of the sweep (CLI only)
    essential_s: float | None = None  # sum over jobs
    plots_s: float | None = None  # sum over jobs
    workers: int = 1
    peak_rss_mb: float | None = None
    failed: int = 0
    child_runs: int | None = None
    not_finished: int | None = None
    compare_s: float | None = None
    rest_first_s: float | None = None
    rest_warm_s: float | None = None
    rest_runs: int | None = None
    params_per_run: int | None = None
    metrics_per_run: int | None = None
    tags_per_run: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_beyond_per_job(self) -> float | None:
        if self.cpu_s is None or self.essential_s is None or not self.jobs:
            return None
        return (self.cpu_s - self.essential_s) / self.jobs

    @property
    def efficiency(self) -> float | None:
        if self.essential_s is None:
            return None
        return self.essential_s / (self.wall_s * self.workers)

    @property
    def plots_share(self) -> float | None:
        if self.plots_s is None:
            return None
        return self.plots_s / self.workers / self.wall_s


def _sum_timers(job_dirs: list[Path]) -> tuple[float, float]:
    """Essential work and plots, summed over the jobs, from their summary.json timers."""
    import json

    essential = plots = 0.0
    for job_dir in job_dirs:
        summary = job_dir / "summary.json"
        if not summary.exists():
            continue
        metrics = json.loads(summary.read_text()).get("metrics", {})
        essential += sum(float(metrics.get(k) or 0.0) for k in ESSENTIAL)
        plots += float(metrics.get("time_plots_s") or 0.0)
    return essential, plots


def _cpu_of(log_dir: Path) -> float:
    from bench_analysis import read_events

    return sum(
        max((e.get("cpu_s", 0.0) for e in evs), default=0.0)
        for evs in read_events(log_dir).values()
    )


def cli_sweep(
    label: str, variant: str, args: list[str], n_jobs: int, root: Path, targets: list[str]
) -> tuple[Measure, Path]:
    """One CLI sweep through sweep_bench.run_sweep (probe on), as a Measure."""
    from sweep_bench import SweepSpec, run_sweep

    launcher = "basic" if "basic" in variant else "joblib"
    spec = SweepSpec(label, {}, {})
    load = os.getloadavg()[0]
    run = run_sweep(spec, launcher, 2, root, targets, raw_args=args, n_expected=n_jobs)
    workdir = Path(run.workdir)
    sweep_dir = workdir / "outputs" / "multirun" / "bench"
    job_dirs = [p for p in sweep_dir.iterdir() if p.is_dir()] if sweep_dir.exists() else []
    essential, plots = _sum_timers(job_dirs)
    peak = max(run.timing.peak_rss_mb.values(), default=None)
    m = Measure(
        variant=variant,
        label=label,
        jobs=n_jobs,
        wall_s=run.timing.wall_s,
        load=load,
        code=run.returncode,
        startup_s=run.timing.startup_s,
        cpu_s=_cpu_of(workdir / "bench_log"),
        essential_s=essential,
        plots_s=plots,
        workers=1 if launcher == "basic" else 2,
        peak_rss_mb=peak,
        failed=run.failed,
        child_runs=run.store.children if run.store else None,
        not_finished=(
            sum(v for k, v in run.store.statuses.items() if k != "FINISHED") if run.store else None
        ),
    )
    return m, workdir


def plain_loop(label: str, n_workers: int, args: list[str], n_jobs: int, root: Path) -> Measure:
    """benchmarks/plain_loop.py on the same overrides, in a fresh dir with an empty store."""
    from sweep_bench import bench_env, init_store, store_uri

    workdir = Path(tempfile.mkdtemp(prefix=f"loop{n_workers}_", dir=root))
    init_store(workdir)
    cmd = [sys.executable, str(HERE / "plain_loop.py"), "--out", str(workdir / "jobs")]
    cmd += ["--uri", store_uri(workdir), "--n-jobs", str(n_workers), *args]
    load = os.getloadavg()[0]
    print(f"  {label} [loop n_jobs={n_workers}] in {workdir} ...", file=sys.stderr)
    started = time.perf_counter()
    with (workdir / "loop.log").open("w") as log:
        proc = subprocess.run(cmd, cwd=workdir, env=bench_env(), stdout=log, stderr=log)
    wall = time.perf_counter() - started
    job_dirs = [p for p in (workdir / "jobs").iterdir() if p.is_dir()]
    essential, plots = _sum_timers(job_dirs)
    print(f"    wall {wall:.1f} s, exit {proc.returncode}", file=sys.stderr)
    return Measure(
        variant="loop" if n_workers == 1 else "loop joblib(2)",
        label=label,
        jobs=n_jobs,
        wall_s=wall,
        load=load,
        code=proc.returncode,
        essential_s=essential,
        plots_s=plots,
        workers=n_workers,
    )


def small_args(quick: bool) -> tuple[list[str], int]:
    buildings = BUILDINGS[:2] if quick else BUILDINGS
    days = "1" if quick else "7"
    args = [f"building={','.join(buildings)}", "mode=centralized,centralized_phases"]
    return [*args, f"n_days={days}", "resolution_min=15"], 2 * len(buildings)


def scale_args(n: int) -> list[str]:
    """128: 4 x 2 x 2 x 2 x 4 start dates; 1,000: 5 x 2 x 2 x 2 x 25 (one-day jobs at 60 min)."""
    buildings = {128: 4, 1000: 5}.get(n, 2)
    dates = {128: 4, 1000: 25}.get(n, max(1, n // (buildings * 8)))
    starts = ",".join(f"2016-06-{d:02d}" for d in range(1, dates + 1))
    return [
        f"building={','.join(BUILDINGS[:buildings])}",
        "mode=centralized,decentralized",
        "battery=none,default",
        "ev=none,default",
        f"start_date={starts}",
        "n_days=1",
        "resolution_min=60",
    ]


def listing(m: Measure, workdir: Path) -> None:
    """compare and REST runs/search over the sweep's store, into m."""
    from bench_store import time_compare, time_rest_listing
    from sweep_bench import bench_env, store_uri

    uri = store_uri(workdir)
    m.compare_s, code, _ = time_compare(workdir, uri, bench_env())
    m.extra["compare_exit"] = code
    try:
        art = (workdir / "mlflow_runs" / "artifacts").as_uri()
        rest = time_rest_listing(workdir, uri, art, EXPERIMENT)
        m.rest_first_s, m.rest_warm_s, m.rest_runs = rest.first_s, rest.median_s, rest.runs
    except Exception as exc:  # a server that does not start is a finding, not a crash
        m.extra["rest_error"] = f"{type(exc).__name__}: {exc}"
    m.params_per_run, m.metrics_per_run, m.tags_per_run = (
        _rows_per_run(uri, table) for table in ("params", "latest_metrics", "tags")
    )
    print(f"    compare {m.compare_s:.1f} s, REST warm {m.rest_warm_s} s", file=sys.stderr)


def _rows_per_run(uri: str, table: str) -> int | None:
    """Rows a run has in a table of the store (params, latest_metrics, tags): what each run
    listing loads per run."""
    import sqlite3

    db = uri.split(":///", 1)[-1]
    try:
        with sqlite3.connect(db) as con:
            row = con.execute(
                f"select count(*) * 1.0 / count(distinct run_uuid) from {table}"
            ).fetchone()
    except sqlite3.Error:
        return None
    return round(row[0]) if row and row[0] else None


def warm_up(root: Path) -> None:
    """One untimed job with tracking and plots: the first call after a code change compiles
    the bytecode and fills matplotlib's caches (14 s more than the next call, measured)."""
    from sweep_bench import bench_env, init_store, store_uri

    workdir = Path(tempfile.mkdtemp(prefix="warmup_", dir=root))
    init_store(workdir)
    cmd = [sys.executable, "-m", "ems_sweep", "n_days=1", f"tracking.uri={store_uri(workdir)}"]
    cmd += [f"hydra.run.dir={workdir / 'run'}"]
    subprocess.run(cmd, cwd=workdir, env=bench_env(), capture_output=True, check=False)


def run_plan(quick: bool, rounds: int, root: Path, targets: list[str]) -> list[Measure]:
    """Every figure: the paired rounds of the 14-job sweep, then the 128- and 1,000-job sweeps."""
    measures: list[Measure] = []
    warm_up(root)
    args, n_small = small_args(quick)
    label = f"{n_small} jobs x {'1' if quick else '7'} days @15 min"
    for r in range(rounds):
        order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))  # A B .. B A
        for variant in order:
            if variant.startswith("cli"):
                launch = ["hydra/launcher=basic"] if "basic" in variant else []
                m, _ = cli_sweep(label, variant, [*args, *launch], n_small, root, targets)
            else:
                m = plain_loop(label, 2 if "joblib" in variant else 1, args, n_small, root)
            m.extra["round"] = r
            measures.append(m)
    for n in (16, 40) if quick else (128, 1000):
        sargs = scale_args(n)
        n_jobs = job_count(sargs)  # as the sweeper expands them
        m, workdir = cli_sweep(f"{n_jobs} one-day jobs", "cli joblib(2)", sargs, n_jobs, root, [])
        m.extra["scale"] = True
        listing(m, workdir)
        measures.append(m)
    return measures


# ---- the table ------------------------------------------------------------------------------


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def paired(measures: list[Measure], a: str, b: str) -> list[float]:
    """wall(a) / wall(b) per round (a ratio > 1: b is faster)."""
    out = []
    for r in sorted({m.extra.get("round") for m in measures if "round" in m.extra}):
        ma = next((m for m in measures if m.extra.get("round") == r and m.variant == a), None)
        mb = next((m for m in measures if m.extra.get("round") == r and m.variant == b), None)
        if ma and mb and ma.code == 0 and mb.code == 0:
            out.append(ma.wall_s / mb.wall_s)
    return out


def render(info: dict[str, Any], measures: list[Measure], argv: list[str]) -> str:
    loads = [m.load for m in measures]
    lines = [
        f"Measured {info['date']} at commit `{info['commit']}`"
        + (f" (uncommitted changes in {', '.join(info['dirty'])})" if info["dirty"] else "")
        + f" with `python benchmarks/sweep_bench.py {' '.join(argv)}`.".replace("  ", " "),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); load "
        f"average (1 min) before the calls: median {_f(_median(loads), 1)}, "
        f"{_f(min(loads), 1)}-{_f(max(loads), 1)}; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + ".",
        "",
        "**Every call** (wall = the whole command; CPU = all its processes; essential = the "
        "pipeline's timers without plots, summed over jobs; start-up = launch to first job)",
        "",
        "| sweep | variant | round | load | wall s | start-up s | CPU s | essential s | "
        "CPU/job beyond essential s | plots % of wall | peak RSS/worker MB | failed | child runs "
        "| not FINISHED |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measures:
        share = m.plots_share
        lines.append(
            f"| {m.label} | {m.variant} | {m.extra.get('round', '-')} | {_f(m.load, 1)} | "
            f"{_f(m.wall_s, 1)} | {_f(m.startup_s)} | {_f(m.cpu_s, 1)} | {_f(m.essential_s, 1)} | "
            f"{_f(m.cpu_beyond_per_job)} | {_f(share * 100 if share is not None else None, 1)} | "
            f"{_f(m.peak_rss_mb, 0)} | {m.failed if m.code in (0, 3) else f'exit {m.code}'} | "
            f"{m.child_runs if m.child_runs is not None else '-'} | "
            f"{m.not_finished if m.not_finished is not None else '-'} |"
        )
    scale = [m for m in measures if m.extra.get("scale")]
    if scale:
        lines += [
            "",
            "**Run listing** (over each scale sweep's store)",
            "",
            "| sweep | compare s | REST runs/search first / warm s | runs listed "
            "| params / metrics / tags per run |",
            "|---|---|---|---|---|",
        ]
        for m in scale:
            rest = f"{_f(m.rest_first_s)} / {_f(m.rest_warm_s)}"
            if "rest_error" in m.extra:
                rest = m.extra["rest_error"][:80]
            lines.append(
                f"| {m.label} | {_f(m.compare_s, 1)} | {rest} | {m.rest_runs or '-'} | "
                f"{m.params_per_run or '-'} / {m.metrics_per_run or '-'} / "
                f"{m.tags_per_run or '-'} |"
            )
    lines += ["", "**Targets** (ratios: median over the paired rounds)", ""]
    lines += ["| goal | target | measured | met |", "|---|---|---|---|"]

    def row(goal: str, target: str, value: float | None, ok: bool | None, fmt: str) -> None:
        met = "-" if ok is None else ("yes" if ok else "**no**")
        shown = "-" if value is None else fmt.format(value)
        lines.append(f"| {goal} | {target} | {shown} | {met} |")

    big = scale[0] if scale else None
    beyond = big.cpu_beyond_per_job if big else None
    row(f"1. CPU per job beyond essential ({big.label if big else '-'})", "<= 0.15 s", beyond,
        None if beyond is None else beyond <= 0.15, "{:.2f} s")  # fmt: skip
    for m in scale:
        row(f"1. launch to first job ({m.label})", "<= 3 s", m.startup_s,
            None if m.startup_s is None else m.startup_s <= 3, "{:.2f} s")  # fmt: skip
    sp = _median(paired(measures, "cli basic", "cli joblib(2)"))
    row("2. joblib(2) / basic speedup (14 jobs)", ">= 1.8x", sp, sp and sp >= 1.8, "{:.2f}x")
    vs_loop = _median(paired(measures, "loop", "cli joblib(2)"))
    row("3. CLI faster than the plain loop", ">= 1.6x", vs_loop, vs_loop and vs_loop >= 1.6,
        "{:.2f}x")  # fmt: skip
    vs_par = _median(paired(measures, "loop joblib(2)", "cli joblib(2)"))
    row("3. CLI vs the plain loop on joblib(2)", ">= 1.0x", vs_par, vs_par and vs_par >= 1.0,
        "{:.2f}x")  # fmt: skip
    shares = [m.plots_share for m in measures if m.variant == "cli joblib(2)" and m.plots_share]
    share = _median(shares)
    row("4. plots' share of a sweep's wall (CLI joblib, median)", "<= 10%",
        share * 100 if share is not None else None, share is not None and share <= 0.10,
        "{:.1f}%")  # fmt: skip
    for m in scale:
        lost = (m.child_runs is not None and m.child_runs != m.jobs) or bool(m.not_finished)
        ok = m.code == 0 and m.failed == 0 and not lost
        row(f"5. {m.label}: failed / lost runs", "0 / 0", float(m.failed), ok, "{:.0f} failed")
        if m.compare_s is not None:
            row(f"5. compare over {m.label}", "< 10 s", m.compare_s, m.compare_s < 10, "{:.1f} s")
        if m.rest_warm_s is not None:
            row(f"5. REST runs/search warm, {m.label}", "< 3 s", m.rest_warm_s,
                m.rest_warm_s < 3, "{:.2f} s")  # fmt: skip
    peak = max((m.peak_rss_mb for m in measures if m.peak_rss_mb), default=None)
    row("6. peak memory per worker", "< 500 MB", peak, peak is not None and peak < 500,
        "{:.0f} MB")  # fmt: skip
    return "\n".join(lines) + "\n"


def to_raw(measures: list[Measure]) -> list[dict[str, Any]]:
    return [asdict(m) for m in measures]


def from_raw(rows: list[dict[str, Any]]) -> list[Measure]:
    return [Measure(**r) for r in rows]
