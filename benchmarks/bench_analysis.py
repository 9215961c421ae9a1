"""Turn one sweep's probe events (bench_callback) and job files into its time and memory split.

Vocabulary (all seconds, per job unless named "sweep"):
- window: from the first callback hook of a job to its last (tracking start .. tracking end);
- task: the task function alone (validate + pipeline), bracketed by the probe's own hooks;
- gap: the time a process spends between two of its jobs outside any hook: Hydra composing the
  next job's config, creating its dir and saving .hydra/, joblib dispatch;
- tracking: the MLflow callback's job hooks; the sweep's parent run and store set-up are the
  separate one-off `tracking sweep` figure;
- start-up: CLI launch until the first job starts (interpreter, imports, Hydra compose, store
  set-up, for joblib also the worker processes' spawn and imports);
- pipeline parts: the time_* figures the pipeline writes into summary.json.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_CLASS = "BenchCallback"
TRACKING_CLASS = "MlflowTrackingCallback"

# summary.json figure -> column of the breakdown (the pipeline's own timers).
PIPELINE_PARTS = {
    "data": ["time_data_s"],
    "baseline": ["time_baseline_s"],
    "build": ["time_build_s"],
    "solve": ["time_solve_s"],
    "check": ["time_check_s"],
    "opt. other": ["time_optimize_other_s", "time_kpis_s", "time_learn_s"],
    "files+plots": ["time_files_plots_s"],
}


@dataclass
class JobTiming:
    num: int
    pid: int
    start: float  # first hook of the job (epoch s)
    end: float  # last hook of the job
    task_s: float
    tracking_s: float
    tracking_reported_s: float  # the callback's own figure (mlflow_run.json tracking_seconds)
    gap_s: float | None  # None for the first job of a process (that is start-up)
    hydra_status: str | None
    status: str  # summary.json status ("ok" / "failed" / "missing")
    error: str | None
    parts: dict[str, float]  # PIPELINE_PARTS columns
    pipeline_s: float
    rss_mb: float

    @property
    def share_s(self) -> float:
        """The job's share of its worker's time: its window plus the gap before it."""
        return (self.end - self.start) + (self.gap_s or 0.0)


@dataclass
class SweepTiming:
    jobs: list[JobTiming]
    wall_s: float
    startup_s: float  # launch -> first job start
    imports_compose_s: float  # launch -> first hook in the launcher process
    tracking_sweep_s: float  # MLflow parent run + store set-up + sweep end
    teardown_s: float  # last job end -> process exit
    atexit_s: float  # atexit handlers of the launcher process (MLflow's, loky's, ...)
    finalize_s: float  # after the last atexit handler: interpreter finalization
    compose_s: float  # Hydra's per-job compose (load_sweep_config) by the launcher, mean
    validate_s: float  # the sweeper composing every job once up front (launcher, serial), total
    save_config_s: float  # writing each job's .hydra/*.yaml, mean per job
    configure_log_s: float  # Hydra setting up each job's logging, mean per job
    worker_startup_s: list[float]  # worker created -> its first job (joblib only)
    peak_rss_mb: dict[int, float]  # per process that ran jobs
    launcher_rss_mb: float
    hook_totals: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.jobs)

    def mean(self, attr: str) -> float:
        return statistics.fmean(getattr(j, attr) for j in self.jobs) if self.jobs else 0.0

    def mean_part(self, name: str) -> float:
        return statistics.fmean(j.parts.get(name, 0.0) for j in self.jobs) if self.jobs else 0.0

    def mean_gap(self) -> float:
        gaps = [j.gap_s for j in self.jobs if j.gap_s is not None]
        return statistics.fmean(gaps) if gaps else 0.0

    def failed(self) -> list[JobTiming]:
        return [j for j in self.jobs if j.status != "ok" or j.hydra_status != "COMPLETED"]


def read_events(log_dir: Path) -> dict[int, list[dict[str, Any]]]:
    events: dict[int, list[dict[str, Any]]] = {}
    for path in sorted(Path(log_dir).glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            events[int(lines[0]["pid"])] = lines
    return events


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _parts(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(sum(metrics.get(key, 0.0) or 0.0 for key in keys))
        for name, keys in PIPELINE_PARTS.items()
    }


def _is_job_event(ev: dict[str, Any]) -> bool:
    return ev["event"] in ("job_start", "job_end") or str(ev.get("hook", "")).startswith("on_job")


def _jobs_of(pid_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group one process's events by job; each job has its hooks and the probe's start/end."""
    jobs: dict[int, dict[str, Any]] = {}
    for ev in pid_events:
        num = ev.get("job")
        if num is None and _is_job_event(ev):
            num = 0  # a single run (no -m) has no job number
        if num is None:
            continue
        job = jobs.setdefault(num, {"num": num, "hooks": [], "start": None, "end": None})
        if ev["event"] == "hook":
            job["hooks"].append(ev)
        elif ev["event"] == "job_start":
            job["start"], job["dir"] = ev["t"], ev["dir"]
        elif ev["event"] == "job_end":
            job["end"], job["status"], job["rss_mb"] = ev["t"], ev["status"], ev["rss_mb"]
    return sorted(jobs.values(), key=lambda j: j["start"] or 0.0)


def analyse(log_dir: Path, launch_t: float, exit_t: float) -> SweepTiming:
    """Combine the probe events of every process of one CLI call (launch/exit: epoch s)."""
    events = read_events(log_dir)
    launcher = next(
        (
            pid
            for pid, evs in events.items()
            if any(e["event"].startswith(("multi", "run_")) for e in evs)
        ),  # fmt: skip
        None,
    )
    jobs: list[JobTiming] = []
    worker_startup: list[float] = []
    peak: dict[int, float] = {}
    hook_totals: dict[str, float] = defaultdict(float)
    tracking_sweep = 0.0
    compose: list[tuple[int, float, float]] = []  # (pid, start, seconds)
    steps: dict[str, float] = defaultdict(float)
    for pid, evs in events.items():
        created = next(e["t"] for e in evs if e["event"] == "process")
        for ev in evs:
            if ev["event"] == "hook":
                hook_totals[f"{ev['cls']}.{ev['hook']}"] += ev["t"] - ev["t0"]
                if ev["cls"] == TRACKING_CLASS and not _is_job_event(ev):
                    tracking_sweep += ev["t"] - ev["t0"]
                if ev["cls"] == "Hydra" and ev["hook"] == "compose":
                    compose.append((pid, ev["t0"], ev["t"] - ev["t0"]))
                elif ev["cls"] == "Hydra":
                    steps[ev["hook"]] += ev["t"] - ev["t0"]
        previous_end: float | None = None
        for raw in _jobs_of(evs):
            if raw["start"] is None or raw["end"] is None:
                continue  # a job that never ended: counted as missing by the caller
            hooks = raw["hooks"]
            begin = min([raw["start"], *(h["t0"] for h in hooks)])
            finish = max([raw["end"], *(h["t"] for h in hooks)])
            if previous_end is None and pid != launcher:
                worker_startup.append(begin - created)
            gap = None if previous_end is None else begin - previous_end
            previous_end = finish
            summary = _read_json(Path(raw["dir"]) / "summary.json")
            marker = _read_json(Path(raw["dir"]) / "mlflow_run.json")
            metrics = summary.get("metrics", {})
            jobs.append(
                JobTiming(
                    num=raw["num"],
                    pid=pid,
                    start=begin,
                    end=finish,
                    task_s=raw["end"] - raw["start"],
                    tracking_s=sum(h["t"] - h["t0"] for h in hooks if h["cls"] == TRACKING_CLASS),
                    tracking_reported_s=float(marker.get("tracking_seconds") or 0.0),
                    gap_s=gap,
                    hydra_status=raw.get("status"),
                    status=summary.get("status", "missing"),
                    error=summary.get("error"),
                    parts=_parts(metrics),
                    pipeline_s=float(metrics.get("job_pipeline_seconds", 0.0)),
                    rss_mb=raw.get("rss_mb", 0.0),
                )
            )
            peak[pid] = max(peak.get(pid, 0.0), raw.get("rss_mb", 0.0))
    jobs.sort(key=lambda j: j.num)
    first_hook = min(
        (e.get("t0", e["t"]) for e in events.get(launcher, []) if e["event"] != "process"),
        default=launch_t,
    )
    launcher_rss = max(
        (e.get("rss_mb", 0.0) for e in events.get(launcher, []) if "rss_mb" in e), default=0.0
    )
    at_exit = {e["event"]: e["t"] for e in events.get(launcher, []) if "atexit" in e["event"]}
    first_handler = at_exit.get("atexit_first", exit_t)
    last_handler = at_exit.get("atexit_last", first_handler)
    first_job = min((j.start for j in jobs), default=exit_t)
    last_job = max((j.end for j in jobs), default=exit_t)
    return SweepTiming(
        jobs=jobs,
        wall_s=exit_t - launch_t,
        startup_s=first_job - launch_t,
        imports_compose_s=first_hook - launch_t,
        tracking_sweep_s=tracking_sweep,
        teardown_s=exit_t - last_job,
        atexit_s=last_handler - first_handler,
        finalize_s=exit_t - last_handler,
        compose_s=statistics.fmean(
            [sec for pid, t0, sec in compose if pid != launcher or t0 > first_job] or [0.0]
        ),
        validate_s=sum(sec for pid, t0, sec in compose if pid == launcher and t0 < first_job),
        save_config_s=steps["save_config"] / max(len(jobs), 1),
        configure_log_s=steps["configure_log"] / max(len(jobs), 1),
        worker_startup_s=worker_startup,
        peak_rss_mb=peak,
        launcher_rss_mb=launcher_rss,
        hook_totals=dict(hook_totals),
    )


def import_costs(importtime_stderr: str, top: int = 8) -> tuple[float, list[tuple[str, float]]]:
    """Total import seconds and the top-level packages costing most (from -X importtime)."""
    by_package: dict[str, float] = defaultdict(float)
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[12:].split("|"))
        by_package[name.split(".")[0]] += int(self_us) / 1e6
    ranked = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)
    return sum(by_package.values()), ranked[:top]
