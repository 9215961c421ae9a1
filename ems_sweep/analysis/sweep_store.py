"""Read a sweep's runs back from the MLflow store: resolve the store, the experiments, the sweep.

`compare` and `ui` must look at the same store the tracking callback writes to, so the default
location lives in one function. All lookups fail with a `CompareError` that names the bad value
and lists what exists, so a typo never silently yields an empty report.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from ems_sweep.names import (
    RUN_TYPE_JOB,
    RUN_TYPE_SWEEP,
    TAG_PARENT_RUN,
    TAG_RUN_TYPE,
    TAG_SWEEP_DIR,
)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

ALL_SWEEPS = "all"
LATEST_SWEEP = "latest"


class CompareError(Exception):
    """Bad input or an empty selection; the message says what was asked and what exists."""


def resolve_uri(uri: str | None = None, artifact_root: str | None = None) -> tuple[str, str | None]:
    """(tracking URI, artifact root URI) exactly as the tracking callback resolves them.

    Default: the project's store mlflow_runs/mlflow.db in the working directory, artifacts in
    mlflow_runs/artifacts; a SQLite override keeps its artifacts beside the database file.
    """
    from ems_sweep.tracking.store import resolve_store

    try:
        store = resolve_store({"uri": uri, "artifact_location": artifact_root}, Path.cwd())
    except ValueError as exc:
        raise CompareError(str(exc).replace("tracking.uri", "--tracking-uri")) from exc
    return store.uri, store.artifact_root


def default_tracking_uri() -> str:
    """The project's store: mlflow_runs/mlflow.db (SQLite) in the working directory."""
    return resolve_uri()[0]


def sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI, None for any other kind of store."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    # sqlite:////abs/path -> path "//abs/path"; sqlite:///rel -> "/rel" (relative to cwd)
    raw = unquote(uri[len("sqlite:///") :])
    return Path(raw) if raw else None


def check_store_exists(uri: str) -> None:
    """Fail early (and without creating an empty database) when a SQLite store is absent."""
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise CompareError(
            f"No runs yet: no MLflow store at {db} (tracking URI {uri}). Run a sweep first, "
            "e.g. `python -m ems_sweep building=res1,res2 mode=centralized,decentralized -m`, "
            "or point --tracking-uri at an existing store."
        )


def resolve_experiments(client: MlflowClient, names: list[str] | None) -> dict[str, str]:
    """Experiment id -> name: the named ones (all must exist) or every active experiment."""
    existing = {e.experiment_id: e.name for e in client.search_experiments()}
    if not names:
        if not existing:
            raise CompareError("No runs yet: the tracking store has no experiments.")
        return existing
    by_name = {name: eid for eid, name in existing.items()}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise CompareError(
            f"Unknown experiment {', '.join(repr(n) for n in unknown)}; "
            f"existing experiments: {', '.join(sorted(by_name)) or '(none)'}"
        )
    return {by_name[n]: n for n in names}


@dataclass
class Sweep:
    """The parent run of one sweep (None for the pseudo-sweep `--sweep all`).

    A sweep over both pipelines has one parent per experiment, all with the same sweep dir:
    `run_ids` holds every one of them, `run_id` the one that was selected.
    """

    run_id: str | None
    name: str
    experiment: str
    tags: dict[str, str] = field(default_factory=dict)
    start_time_ms: int | None = None
    run_ids: list[str] = field(default_factory=list)

    @property
    def sweep_dir(self) -> Path | None:
        value = self.tags.get(TAG_SWEEP_DIR)
        return Path(value) if value else None


def _sweep_from_run(run: Run, experiments: dict[str, str]) -> Sweep:
    return Sweep(
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id,
        experiment=experiments.get(run.info.experiment_id, run.info.experiment_id),
        tags=dict(run.data.tags),
        start_time_ms=run.info.start_time,
        run_ids=[run.info.run_id],
    )


def list_sweeps(client: MlflowClient, experiments: dict[str, str]) -> list[Sweep]:
    """Every sweep parent run in the experiments, newest first."""
    runs = client.search_runs(
        experiment_ids=list(experiments),
        filter_string=f"tags.`{TAG_RUN_TYPE}` = '{RUN_TYPE_SWEEP}'",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    )
    return [_sweep_from_run(r, experiments) for r in runs]


def _describe(sweeps: list[Sweep], limit: int = 5) -> str:
    import datetime as dt

    lines = []
    for s in sweeps[:limit]:
        when = (
            dt.datetime.fromtimestamp(s.start_time_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")
            if s.start_time_ms
            else "?"
        )
        lines.append(f"  {s.run_id}  {s.name}  ({s.experiment}, started {when} UTC)")
    more = f"\n  ... and {len(sweeps) - limit} more" if len(sweeps) > limit else ""
    return "\n".join(lines) + more


def _with_siblings(sweep: Sweep, sweeps: list[Sweep]) -> Sweep:
    """Join the parents of the same sweep dir (one per experiment) into one Sweep."""
    if sweep.sweep_dir is None:
        return sweep
    same = [s for s in sweeps if s.sweep_dir == sweep.sweep_dir]
    sweep.run_ids = [s.run_id for s in same if s.run_id]
    sweep.experiment = ", ".join(sorted({s.experiment for s in same}))
    return sweep


def select_sweep(client: MlflowClient, experiments: dict[str, str], wanted: str) -> Sweep:
    """`latest`, `all`, a parent run id (or unique prefix of >= 6 chars) or a sweep run name."""
    names = ", ".join(sorted(experiments.values()))
    if wanted == ALL_SWEEPS:
        return Sweep(run_id=None, name="all runs", experiment=names)
    sweeps = list_sweeps(client, experiments)
    if not sweeps:
        raise CompareError(
            f"No runs yet: no sweep (parent run with tag {TAG_RUN_TYPE}={RUN_TYPE_SWEEP}) in "
            f"experiment(s) {names}. Run a sweep with -m first, or use --sweep all to compare "
            "every job run."
        )
    if wanted == LATEST_SWEEP:
        return _with_siblings(sweeps[0], sweeps)
    for candidates in (
        [s for s in sweeps if s.run_id == wanted],
        [s for s in sweeps if s.name == wanted],  # newest first: a reused name picks the latest
        [s for s in sweeps if len(wanted) >= 6 and (s.run_id or "").startswith(wanted)],
    ):
        if len(candidates) == 1 or (candidates and candidates[0].name == wanted):
            return _with_siblings(candidates[0], sweeps)
        if len(candidates) > 1:
            raise CompareError(f"Sweep id prefix {wanted!r} is ambiguous:\n{_describe(candidates)}")
    raise CompareError(
        f"Unknown sweep {wanted!r}: no sweep parent run with that id or name in experiment(s) "
        f"{names}. Recent sweeps (id, name):\n{_describe(sweeps)}"
    )


def load_runs(
    uri: str, experiments: dict[str, str], sweep: Sweep, user_filter: str | None
) -> pd.DataFrame:
    """All job runs of the sweep (and the user's filter) in one `mlflow.search_runs` call."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if sweep.run_id is None:
        base = f"tags.`{TAG_RUN_TYPE}` = '{RUN_TYPE_JOB}'"
    elif len(sweep.run_ids) > 1 and sweep.sweep_dir is not None:
        # Several parents (one per experiment): their jobs share the sweep dir tag instead.
        quoted = str(sweep.sweep_dir).replace("'", "\\'")
        base = f"tags.`{TAG_RUN_TYPE}` = '{RUN_TYPE_JOB}' and tags.`{TAG_SWEEP_DIR}` = '{quoted}'"
    else:
        base = f"tags.`{TAG_PARENT_RUN}` = '{sweep.run_id}'"
    filter_string = f"{base} and {user_filter}" if user_filter else base
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(
            experiment_ids=list(experiments),
            filter_string=filter_string,
            order_by=["attributes.start_time ASC"],
        )
    except MlflowException as exc:
        if user_filter:
            raise CompareError(
                f"Invalid --filter {user_filter!r}: {exc.message}. Example: "
                "--filter \"params.building_id = 'res1' and metrics.savings_pct > 5\""
            ) from exc
        raise


def client_for(uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


_FILTER_KEY = re.compile(r"\b(params|metrics|tags)\.(`[^`]+`|\"[^\"]+\"|[\w.]+)")


def explain_empty(
    uri: str, experiments: dict[str, str], sweep: Sweep, user_filter: str | None
) -> str:
    """Why a selection is empty: no jobs at all, or a filter key no job has (with near names)."""
    label = f"sweep {sweep.name} ({sweep.run_id})" if sweep.run_id else "the experiment(s)"
    if not user_filter:
        return f"No runs yet: no job runs in {label}."
    runs = load_runs(uri, experiments, sweep, None)
    if runs.empty:
        return f"No runs yet: no job runs in {label}."
    problems = []
    for kind, raw in _FILTER_KEY.findall(user_filter):
        name = raw.strip('`"')
        if f"{kind}.{name}" in runs.columns:
            continue
        known = sorted(c.split(".", 1)[1] for c in runs.columns if c.startswith(f"{kind}."))
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(f'{kind}.{c}' for c in close)}?" if close else ""
        problems.append(f"{kind}.{name} is not logged by any job of {label}{hint}")
    if problems:
        return f"No job runs match --filter {user_filter!r}: " + "; ".join(problems)
    return f"No job of {label} ({len(runs)} jobs) matches --filter {user_filter!r}."
