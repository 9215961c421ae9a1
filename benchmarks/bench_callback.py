"""Timing probe for `benchmarks/sweep_bench.py`: a Hydra callback added from the command line.

It runs inside every process of a sweep (the launcher's and each joblib worker) and appends one
JSON line per event to `<log_dir>/<pid>.jsonl`: the process start time, each job's start and end
(and the worker's peak memory at that point), and the duration of every hook of the project's
own callbacks (the MLflow tracking callback above all), which it wraps with a timer. All times
are epoch seconds, so events of different processes line up on one clock.

Added as the last callback, its `on_job_start` runs after the others' and its `on_job_end`
before theirs (Hydra calls end hooks in reverse), so its own pair brackets the task function.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import resource
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

HOOKS = (
    "on_run_start",
    "on_run_end",
    "on_multirun_start",
    "on_multirun_end",
    "on_job_start",
    "on_job_end",
)
_WRAPPED = "_sweep_bench_wrapped"
# Hydra's own per-job steps (launcher process for basic, each worker for joblib): the job's
# compose, writing its .hydra/*.yaml, setting up its logging. Owner (module[.class]), attr, label.
HYDRA_STEPS = (
    ("hydra._internal.config_loader_impl", "ConfigLoaderImpl.load_sweep_config", "compose"),
    ("hydra.core.utils", "_save_config", "save_config"),
    ("hydra.core.utils", "configure_log", "configure_log"),
)
_announced: set[str] = set()


def process_start_time() -> float:
    """Epoch time this process was created (from /proc: interpreter start included)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its waited-for children (solver binaries),
    and the CPU seconds (user + system) of this process so far (not of its children: the
    launcher reaps its joblib workers, whose own figures count them)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "rss_mb": own.ru_maxrss / 1024.0,
        "children_rss_mb": kids.ru_maxrss / 1024.0,
        "cpu_s": own.ru_utime + own.ru_stime,
    }


def _emit_usage(log_dir: str, event: str) -> None:
    emit(log_dir, event, **peak_rss_mb())


def emit(log_dir: str, event: str, **fields: Any) -> None:
    """Append one event line to this process's file (one file per pid: no interleaving)."""
    path = Path(log_dir) / f"{os.getpid()}.jsonl"
    lines = []
    if log_dir not in _announced:
        _announced.add(log_dir)
        lines.append({"event": "process", "pid": os.getpid(), "t": process_start_time()})
    lines.append({"event": event, "pid": os.getpid(), "t": time.time(), **fields})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write("".join(json.dumps(line) + "\n" for line in lines))


def job_num(config: Any) -> int | None:
    num = OmegaConf.select(config, "hydra.job.num") if isinstance(config, DictConfig) else None
    return int(num) if num is not None else None


def _timed(fn: Callable[..., Any], label: str, hook: str, log_dir: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.time()
        try:
            return fn(self, *args, **kwargs)
        finally:
            emit(log_dir, "hook", cls=label, hook=hook, t0=t0, job=job_num(kwargs.get("config")))

    setattr(wrapper, _WRAPPED, True)
    return wrapper


def wrap_callbacks(targets: Iterable[str], log_dir: str) -> None:
    """Time the hooks each target class overrides, and Hydra's per-job steps.

    Idempotent: called again for each unpickling of the callbacks in a joblib worker.
    """
    for module, attr, label in HYDRA_STEPS:
        owner: Any = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn = getattr(owner, name)
        if not getattr(fn, _WRAPPED, False):
            setattr(owner, name, _timed(fn, "Hydra", label, log_dir))
    for target in targets:
        cls = get_class(target)
        for hook in HOOKS:
            fn = getattr(cls, hook, None)
            if fn is None or fn is getattr(Callback, hook) or getattr(fn, _WRAPPED, False):
                continue
            setattr(cls, hook, _timed(fn, cls.__name__, hook, log_dir))


def watch_exit(log_dir: str) -> None:
    """Timestamps around the atexit handlers: the first registered runs last, and vice versa."""
    atexit.register(_emit_usage, log_dir, "atexit_last")


class BenchCallback(Callback):
    """Records job boundaries, peak memory and the other callbacks' hook times (see module doc)."""

    def __init__(self, log_dir: str, wrap: Iterable[str] = ()) -> None:
        self.log_dir = str(log_dir)
        self.wrap = [str(t) for t in wrap]
        wrap_callbacks(self.wrap, self.log_dir)
        watch_exit(self.log_dir)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # joblib workers receive the callbacks pickled: wrap the classes in that process too,
        # before any hook of this job runs.
        self.__dict__.update(state)
        wrap_callbacks(self.wrap, self.log_dir)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        emit(self.log_dir, "run_start")

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        emit(self.log_dir, "run_end", **peak_rss_mb())
        atexit.register(emit, self.log_dir, "atexit_first")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        emit(self.log_dir, "multirun_start")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        emit(self.log_dir, "multirun_end", **peak_rss_mb())
        atexit.register(emit, self.log_dir, "atexit_first")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        emit(self.log_dir, "job_start", job=job_num(config), dir=config.hydra.runtime.output_dir)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        status = getattr(getattr(job_return, "status", None), "name", None)
        emit(self.log_dir, "job_end", job=job_num(config), status=status, **peak_rss_mb())
