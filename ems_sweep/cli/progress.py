"""Progress of a multirun, one line per finished job, from the launching process.

Workers (joblib, submitit, Ray) never talk to the launching process until the whole batch is
over, so progress is read from where every job leaves its result anyway: the summary.json in
its job dir under the sweep dir. A thread polls the sweep dir and prints, to stderr,
`[sweep] 3/6 jobs done, 1 failed, 0:12 elapsed, ~0:12 left`.

`when` (hydra.callbacks.progress.when): `auto` (default) prints a line per job when stderr is
a terminal, and only every quarter of the sweep (and the last job) when it is not, so logs
and CI output stay short; `always` a line per job anywhere; `never` nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ems_sweep.names import SUMMARY_FILE

POLL_S = 0.5
WHEN = ("auto", "always", "never")


def clock(seconds: float) -> str:
    """'0:07', '12:30', '1:02:03'."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(done: int, total: int, failed: int, elapsed: float) -> str:
    left = ""
    if 0 < done < total:
        left = f", ~{clock(elapsed / done * (total - done))} left"
    return f"[sweep] {done}/{total} jobs done, {failed} failed, {clock(elapsed)} elapsed{left}"


class FinishedJobs:
    """Counts the jobs below a sweep dir that wrote summary.json, reading each job's once.

    A poll walks the sweep dir but not the job dirs already counted (a job dir holds no other
    job), so polling a 1,000-job sweep every half second stays cheap: a glob of every file and
    a read of every summary on each poll grow with the jobs done, over a sweep that does too.
    `since` (epoch seconds) leaves out the results of an earlier sweep into the same dir.
    """

    def __init__(self, sweep_dir: Path, since: float = 0.0) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.since = since
        self.counted: dict[str, bool] = {}  # job dir -> failed

    def poll(self) -> tuple[int, int]:
        """(jobs done, of which failed)."""
        for root, dirs, files in os.walk(self.sweep_dir):
            if SUMMARY_FILE in files:
                dirs.clear()
                self._read(root)
            else:
                dirs[:] = [d for d in dirs if os.path.join(root, d) not in self.counted]
        return len(self.counted), sum(self.counted.values())

    def _read(self, job_dir: str) -> None:
        if job_dir in self.counted:
            return
        path = os.path.join(job_dir, SUMMARY_FILE)
        try:
            if os.stat(path).st_mtime < self.since:
                return  # an earlier sweep's, until this sweep's job rewrites it
            with open(path) as handle:
                status = json.load(handle).get("status")
        except (OSError, ValueError):
            return  # being written: counted on the next poll
        self.counted[job_dir] = status != "ok"


def milestone(done: int, total: int) -> bool:
    """Every quarter of the sweep and its last job (the quiet, non-terminal output)."""
    return done == total or done * 4 // total != (done - 1) * 4 // total


class ProgressCallback(Callback):
    """Starts the polling thread at multirun start, prints the last line and stops at the end."""

    def __init__(self, when: str = "auto", stream: TextIO | None = None) -> None:
        if when not in WHEN:
            raise ValueError(f"hydra.callbacks.progress.when={when!r}; allowed: {', '.join(WHEN)}")
        self.when = when
        self.stream = stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers get a copy of the callbacks: no thread, no stream, nothing to do there.
        return {"when": "never", "stream": None, "_stop": None, "_thread": None}

    def _out(self) -> TextIO:
        return self.stream or sys.stderr

    def _every_job(self) -> bool:
        if self.when == "always":
            return True
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.when == "never":
            return
        from ems_sweep.tracking.sweep import job_count, sweep_overrides

        total = job_count(sweep_overrides(config))
        sweep_dir = Path(config.hydra.sweep.dir)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch, args=(sweep_dir, total), name="ems-sweep-progress", daemon=True
        )
        self._thread.start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._thread = None

    def _watch(self, sweep_dir: Path, total: int) -> None:
        started = time.monotonic()
        since = time.time() - 1.0  # file times may be coarser than the clock
        shown = 0
        every_job = self._every_job()
        jobs = FinishedJobs(sweep_dir, since)
        while True:
            stopping = self._stop.wait(POLL_S)
            done, failed = jobs.poll()
            total = max(total, done)
            elapsed = time.monotonic() - started
            # A line per newly finished job (several may finish within one poll).
            for n in range(shown + 1, done + 1):
                if every_job or milestone(n, total):
                    line = progress_line(n, total, min(failed, n), elapsed)
                    print(line, file=self._out(), flush=True)
            shown = max(shown, done)
            if stopping:
                return
