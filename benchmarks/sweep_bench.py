"""Sweep benchmark: real `python -m ems_sweep ... -m` sweeps, timed and split, with targets.

    python benchmarks/sweep_bench.py            # the figures of issue 17 (~20 min on 2 idle
                                                # cores), writes the table into README.md
    python benchmarks/sweep_bench.py --quick    # tiny sizes, prints only (to test the script)
    python benchmarks/sweep_bench.py --only startup --only sweeps --only scale
                                                # the earlier split (issue 12's table)

The issue-17 plan (bench_issue.py): the 14-job sweep in paired, interleaved rounds of the CLI
(basic, joblib) and the plain loop (benchmarks/plain_loop.py, one process and joblib(2)), then
128 and 1,000 one-day jobs with the run listing over their stores.

Each sweep runs through the CLI in a fresh temp dir (its own outputs/ and MLflow store), with
the probe callback `bench_callback.BenchCallback` added from the command line
(`+hydra.callbacks.bench=...`): it timestamps every job in every process and times the
project's callbacks (MLflow tracking). The pipeline's own timers (time_*_s in summary.json)
split the task. See bench_analysis.py for what each column means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_issue  # noqa: E402
from bench_analysis import (  # noqa: E402
    JobTiming,
    SweepTiming,
    analyse,
    import_costs,
)
from bench_report import machine, render, write_readme  # noqa: E402
from bench_store import StoreCount, count_runs, time_compare, time_rest_listing  # noqa: E402

README = HERE / "README.md"
LAST_RAW = Path(tempfile.gettempdir()) / "sweep_bench_last.json"
BUILDINGS = ["res1", "res2", "res3", "res4", "res5", "res6", "ind3"]
EXPERIMENT = "Pipeline_A_Comparison"


@dataclass
class SweepSpec:
    """One sweep of the benchmark: the CLI overrides that define it and its expected size."""

    name: str
    overrides: dict[str, list[str]]  # swept keys -> values
    fixed: dict[str, str] = field(default_factory=dict)

    @property
    def n_jobs(self) -> int:
        n = 1
        for values in self.overrides.values():
            n *= len(values)
        return n

    def args(self) -> list[str]:
        swept = [f"{k}={','.join(v)}" for k, v in self.overrides.items()]
        return swept + [f"{k}={v}" for k, v in self.fixed.items()]


@dataclass
class SweepRun:
    spec: str
    launcher: str
    resolution: int
    n_expected: int
    returncode: int
    timing: SweepTiming
    store: StoreCount | None
    workdir: str
    job_dirs: int
    log_tail: str = ""  # the CLI's last output lines when it exited non-zero

    @property
    def lost(self) -> int:
        return self.n_expected - len(self.timing.jobs)

    @property
    def failed(self) -> int:
        return len(self.timing.failed()) + self.lost

    @property
    def jobs_per_min(self) -> float:
        return 60.0 * self.n_expected / self.timing.wall_s


# ---- running -------------------------------------------------------------------------------


def bench_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "HYDRA_FULL_ERROR": "1"}


def callback_targets() -> list[str]:
    """The project's own hydra.callbacks targets (to be timed), from the composed config."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from ems_sweep.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    GlobalHydra.instance().clear()
    return [str(cb["_target_"]) for cb in cfg.hydra.callbacks.values()]


def probe_args(log_dir: Path, targets: list[str]) -> list[str]:
    return [
        "+hydra.callbacks.bench._target_=bench_callback.BenchCallback",
        f"+hydra.callbacks.bench.log_dir={log_dir}",
        f"+hydra.callbacks.bench.wrap=[{','.join(targets)}]",
    ]


def store_uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow_runs' / 'mlflow.db'}"


def init_store(workdir: Path) -> float:
    """Create the empty store (MLflow's tables) before a timed sweep; returns its seconds."""
    (workdir / "mlflow_runs").mkdir(parents=True, exist_ok=True)
    code = "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, store_uri(workdir)],
        cwd=workdir,
        check=True,
        capture_output=True,
        env=bench_env(),
    )
    return time.perf_counter() - started


def run_cli(args: list[str], workdir: Path, log_name: str) -> tuple[int, float, float]:
    """Run `python -m ems_sweep <args>` in workdir; returns (code, launch epoch, exit epoch)."""
    with (workdir / f"{log_name}.log").open("w") as log:
        launch = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "ems_sweep", *args],
            cwd=workdir,
            env=bench_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=4 * 3600,
        )
        return proc.returncode, launch, time.time()


def run_sweep(
    spec: SweepSpec,
    launcher: str,
    n_jobs: int,
    root: Path,
    targets: list[str],
    raw_args: list[str] | None = None,
    n_expected: int | None = None,
) -> SweepRun:
    """One CLI sweep of spec (or of raw_args, n_expected jobs); joblib = the project's default
    launcher (ems_joblib) with n_jobs workers."""
    workdir = Path(tempfile.mkdtemp(prefix=f"sweep_{launcher}_", dir=root))
    init_store(workdir)
    log_dir = workdir / "bench_log"
    sweep_dir = workdir / "outputs" / "multirun" / "bench"
    launch_args = ["hydra/launcher=basic"]
    if launcher == "joblib":
        launch_args = ["hydra/launcher=ems_joblib", f"hydra.launcher.n_jobs={n_jobs}"]
    sweep_args = spec.args() if raw_args is None else [a for a in raw_args if "launcher" not in a]
    n_expected = spec.n_jobs if n_expected is None else n_expected
    args = [*sweep_args, *launch_args, f"hydra.sweep.dir={sweep_dir}"]
    args += [*probe_args(log_dir, targets), "-m"]
    print(f"  {spec.name} [{launcher}]: {n_expected} jobs in {workdir} ...", file=sys.stderr)
    code, launch, exit_t = run_cli(args, workdir, "sweep")
    timing = analyse(log_dir, launch, exit_t)
    try:
        store = count_runs(store_uri(workdir))
    except Exception as exc:  # a store that cannot be read is a finding, not a crash
        print(f"  could not read the store: {exc}", file=sys.stderr)
        store = None
    job_dirs = sum(1 for p in sweep_dir.iterdir() if p.is_dir()) if sweep_dir.exists() else 0
    tail = ""
    if code != 0:
        tail = "\n".join((workdir / "sweep.log").read_text().strip().splitlines()[-15:])
        print(f"  the CLI exited {code}:\n{tail}", file=sys.stderr)
    run = SweepRun(
        spec=spec.name,
        launcher=launcher,
        resolution=int(spec.fixed.get("resolution_min", 60)),
        n_expected=n_expected,
        returncode=code,
        timing=timing,
        store=store,
        workdir=str(workdir),
        job_dirs=job_dirs,
        log_tail=tail,
    )
    print(
        f"    wall {timing.wall_s:.1f} s, {run.jobs_per_min:.1f} jobs/min, failed {run.failed},"
        f" runs {store.children if store else '?'}/{n_expected}, exit {code}",
        file=sys.stderr,
    )
    return run


def median_wall(cmd: list[str], cwd: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=bench_env(), capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class Startup:
    interpreter_s: float
    entry_import_s: float
    cfg_job_s: float
    single_startup_s: float  # launch -> job start, one job, tracking off
    single_teardown_s: float  # job end -> exit
    single_task_s: float
    single_wall_s: float
    imports_total_s: float
    imports_top: list[tuple[str, float]]
    store_init_s: float


def measure_startup(root: Path, targets: list[str], repeats: int) -> Startup:
    """The fixed cost of one CLI call, piece by piece (median of `repeats`)."""
    py = sys.executable
    workdir = Path(tempfile.mkdtemp(prefix="startup_", dir=root))
    interp = median_wall([py, "-c", "pass"], workdir, repeats)
    entry = median_wall([py, "-c", "import ems_sweep.__main__"], workdir, repeats)
    cfg_job = median_wall([py, "-m", "ems_sweep", "--cfg", "job"], workdir, repeats)
    singles = []
    for i in range(repeats):
        log_dir = workdir / f"single_{i}"
        args = ["n_days=1", "tracking=none", f"hydra.run.dir={workdir / f'run_{i}'}"]
        code, launch, exit_t = run_cli([*args, *probe_args(log_dir, targets)], workdir, f"s{i}")
        if code != 0:
            raise RuntimeError(f"single run failed ({code}); see {workdir}/s{i}.log")
        singles.append(analyse(log_dir, launch, exit_t))
    # Imports of a whole job process (tracking on, so MLflow's imports count too).
    store_init = init_store(workdir)
    proc = subprocess.run(
        [py, "-X", "importtime", "-m", "ems_sweep", "n_days=1"],
        cwd=workdir,
        env=bench_env(),
        capture_output=True,
        text=True,
    )
    total, top = import_costs(proc.stderr)
    return Startup(
        interpreter_s=interp,
        entry_import_s=entry,
        cfg_job_s=cfg_job,
        single_startup_s=statistics.median(s.startup_s for s in singles),
        single_teardown_s=statistics.median(s.teardown_s for s in singles),
        single_task_s=statistics.median(s.jobs[0].task_s for s in singles),
        single_wall_s=statistics.median(s.wall_s for s in singles),
        imports_total_s=total,
        imports_top=top,
        store_init_s=store_init,
    )


@dataclass
class Scale:
    run: SweepRun
    compare_s: float
    compare_code: int
    compare_tail: str
    rest_ready_s: float | None
    rest_first_s: float | None
    rest_median_s: float | None
    rest_runs: int | None
    rest_error: str | None


def measure_scale(spec: SweepSpec, n_jobs: int, root: Path, targets: list[str]) -> Scale:
    run = run_sweep(spec, "joblib", n_jobs, root, targets)
    workdir = Path(run.workdir)
    uri = store_uri(workdir)
    compare_s, code, out = time_compare(workdir, uri, bench_env())
    print(f"    compare {compare_s:.1f} s (exit {code})", file=sys.stderr)
    try:
        art = (workdir / "mlflow_runs" / "artifacts").as_uri()
        rest = time_rest_listing(workdir, uri, art, EXPERIMENT)
        rest_vals = (rest.server_ready_s, rest.first_s, rest.median_s, rest.runs, None)
        print(f"    REST runs/search {rest.first_s:.2f} s, {rest.runs} runs", file=sys.stderr)
    except Exception as exc:
        rest_vals = (None, None, None, None, f"{type(exc).__name__}: {exc}")
        print(f"    REST listing failed: {exc}", file=sys.stderr)
    tail = "\n".join(out.strip().splitlines()[-12:])
    return Scale(run, compare_s, code, tail, *rest_vals)


# ---- plans ---------------------------------------------------------------------------------


def plans(quick: bool, resolutions: list[int]) -> tuple[list[SweepSpec], SweepSpec]:
    buildings = ["res1", "res2"] if quick else BUILDINGS
    days = "1" if quick else "7"
    modes = ["centralized", "centralized_phases"]
    sweeps = [
        SweepSpec(
            f"{len(buildings)}x2x{days} @{res} min",
            {"building": buildings, "mode": modes},
            {"n_days": days, "resolution_min": str(res)},
        )
        for res in resolutions
    ]
    if quick:
        scale = SweepSpec(
            "scale (quick)",
            {
                "building": ["res1", "res2"],
                "mode": ["centralized", "decentralized"],
                "battery": ["none", "default"],
            },
            {"n_days": "1", "resolution_min": "60"},
        )
    else:
        scale = SweepSpec(
            "scale 7x3x3x3",
            {
                "building": BUILDINGS,
                "mode": ["centralized", "centralized_phases", "decentralized"],
                "battery": ["none", "default", "large"],
                "ev": ["none", "default", "v2g"],
            },
            {"n_days": "1", "resolution_min": "60"},
        )
    return sweeps, scale


def _run_from(d: dict[str, Any]) -> SweepRun:
    t = dict(d["timing"])
    t["jobs"] = [JobTiming(**j) for j in t["jobs"]]
    store = StoreCount(**d["store"]) if d["store"] else None
    return SweepRun(**{**d, "timing": SweepTiming(**t), "store": store})


def from_raw(raw: dict[str, Any]) -> tuple[Any, ...]:
    """Rebuild the measures of a stored run (the --json file), to render them again."""
    runs = [_run_from(r) for r in raw["runs"]]
    startup = Startup(**raw["startup"]) if raw.get("startup") else None
    scale = None
    if raw.get("scale"):
        scale = Scale(**{**raw["scale"], "run": _run_from(raw["scale"]["run"])})
    return raw["info"], raw.get("argv", []), runs, startup, scale


# ---- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes; prints, no README")
    parser.add_argument("--write", action="store_true", help="write the README even with --quick")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument(
        "--only",
        action="append",
        choices=["issue", "startup", "sweeps", "scale"],
        help="run only these parts (repeatable; default: issue, the figures of issue 17)",
    )
    parser.add_argument("--rounds", type=int, help="paired rounds (default 2, quick 1)")
    parser.add_argument("--resolutions", type=int, nargs="+", help="default: 15 60 (quick: 15)")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers (default 2)")
    parser.add_argument(
        "--launchers", nargs="+", default=["basic", "joblib"], choices=["basic", "joblib"]
    )
    parser.add_argument("--repeats", type=int, help="start-up repeats (default 3, quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs")
    parser.add_argument(
        "--json", type=Path, default=LAST_RAW, help=f"raw measures go here (default {LAST_RAW})"
    )
    parser.add_argument(
        "--from-json", type=Path, help="render (and write) a stored run's measures; run nothing"
    )
    args = parser.parse_args(argv)
    argv_text = sys.argv[1:] if argv is None else argv
    if args.from_json:
        raw = json.loads(args.from_json.read_text())
        info, argv_text, runs, startup, scale = from_raw(raw)
        measures = bench_issue.from_raw(raw.get("issue") or [])
        return report(args, info, argv_text, runs, startup, scale, measures)
    parts = set(args.only or ["issue"])
    resolutions = args.resolutions or ([15] if args.quick else [15, 60])
    sweeps, scale_spec = plans(args.quick, resolutions)

    info = machine(HERE)
    targets_ = callback_targets()
    root = Path(tempfile.mkdtemp(prefix="ems_sweep_bench_"))
    print(f"Sweep benchmark in {root}; timing callbacks {targets_}", file=sys.stderr)
    runs: list[SweepRun] = []
    measures: list[bench_issue.Measure] = []
    startup = scale = None
    try:
        if "issue" in parts:
            rounds = args.rounds or (1 if args.quick else 2)
            measures = bench_issue.run_plan(args.quick, rounds, root, targets_)
        if "startup" in parts:
            print("start-up probes ...", file=sys.stderr)
            startup = measure_startup(root, targets_, args.repeats or (1 if args.quick else 3))
        if "sweeps" in parts:
            for spec in sweeps:
                for launcher in args.launchers:
                    runs.append(run_sweep(spec, launcher, args.n_jobs, root, targets_))
        if "scale" in parts:
            scale = measure_scale(scale_spec, args.n_jobs, root, targets_)
    finally:
        raw = {"info": info, "argv": argv_text, "runs": [asdict(r) for r in runs]}
        raw["startup"] = startup and asdict(startup)
        raw["scale"] = scale and asdict(scale)
        raw["issue"] = bench_issue.to_raw(measures)
        args.json.write_text(json.dumps(raw, indent=1, default=str))
        print(f"Raw measures in {args.json}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return report(args, info, argv_text, runs, startup, scale, measures)


def report(
    args: argparse.Namespace,
    info: dict[str, Any],
    argv_text: list[str],
    runs: list[SweepRun],
    startup: Startup | None,
    scale: Scale | None,
    measures: list[bench_issue.Measure] | None = None,
) -> int:
    parts = []
    if measures:
        parts.append(bench_issue.render(info, measures, argv_text))
    if runs or startup or scale:
        parts.append(render(info, argv_text, runs, startup, scale))
    body = "\n".join(parts)
    print(body)
    for r in [*runs, *([scale.run] if scale else [])]:
        for j in r.timing.failed()[:5]:
            print(f"FAILED {r.spec} {r.launcher} job {j.num}: {j.error}", file=sys.stderr)
    if (args.write or not args.quick) and not args.no_write:
        write_readme(args.readme, body)
        print(f"Table written to {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
