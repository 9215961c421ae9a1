"""Where runs go: the tracking URI, artifact root, experiment; retries for a busy SQLite store.

MLflow is imported lazily (inside functions): `tracking=none` and jobs that only read records
never pay its import time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ems_sweep.tracking.record import EXPERIMENTS

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

STORE_DIR = "mlflow_runs"
DB_FILE = "mlflow.db"
ARTIFACT_DIR = "artifacts"
PROBE_TIMEOUT_S = 5.0  # one request at sweep start: is the tracking server there at all?
LOCK_SUFFIX = ".lock"  # mlflow.db.lock: held while the store is created
T = TypeVar("T")
# MLflow 3's UI opens an experiment on the page its kind asks for; without the tag it guesses
# GenAI and shows an empty traces overview. Ours hold classic runs (params, metrics, files).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


@dataclass(frozen=True)
class Store:
    """A resolved tracking store: the URI and the artifact root for new experiments."""

    uri: str
    artifact_root: str | None  # None: the server / backend decides (remote stores)

    @property
    def is_sqlite(self) -> bool:
        return self.uri.startswith("sqlite:")


def resolve_store(tracking: dict[str, Any], cwd: Path) -> Store:
    """tracking.uri/artifact_location, or the project's store mlflow_runs/ under cwd."""
    uri = tracking.get("uri")
    artifact = tracking.get("artifact_location")
    if (
        artifact
        and "://" not in str(artifact)
        and not str(artifact).startswith("mlflow-artifacts:")
    ):
        artifact = (cwd / str(artifact)).resolve().as_uri()
    if uri:
        uri = str(uri)
        if "://" not in uri and not uri.startswith("sqlite:"):
            raise ValueError(
                f"Invalid config: tracking.uri={uri!r}; allowed: sqlite:///<path>, "
                "http(s)://host:port, postgresql://... (MLflow 3 has no plain file store)"
            )
        if uri.startswith("sqlite:") and not artifact:
            db = Path(uri.split(":///", 1)[-1])
            artifact = (db.parent / ARTIFACT_DIR).resolve().as_uri()
        return Store(uri, artifact)
    root = (cwd / STORE_DIR).resolve()
    return Store(f"sqlite:///{root / DB_FILE}", artifact or (root / ARTIFACT_DIR).as_uri())


def experiment_name(tracking: dict[str, Any], pipeline: str) -> str:
    return str(tracking.get("experiment") or EXPERIMENTS.get(pipeline, f"Pipeline_{pipeline}"))


def configure_http(tracking: dict[str, Any]) -> None:
    """Bound how long an unreachable http store can hold a job (MLflow reads these per request)."""
    retries = tracking.get("http_request_max_retries")
    timeout = tracking.get("http_request_timeout_s")
    if retries is not None:
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    if timeout is not None:
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(timeout)
    backoff = tracking.get("http_request_backoff_factor")
    if backoff is not None:
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(backoff)


def probe(store: Store) -> None:
    """Raise ConnectionError when an http(s) store does not answer one short request.

    MLflow's own client retries each request for about a minute; a store that is down (or a
    host name that does not resolve) is better found once, before any run is started.
    """
    if not store.uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{store.uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S)
    except urllib.error.HTTPError:
        return  # it answered (an auth proxy, an older server): reachable
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"tracking store {store.uri} unreachable ({reason})") from exc


def _is_locked(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def retry(fn: Callable[[], T], what: str, attempts: int = 8) -> T:
    """Call fn, retrying with jittered backoff while SQLite reports a lock (parallel workers)."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not _is_locked(exc):
                raise
            log.debug("%s: database busy (attempt %d), retrying in %.2fs", what, attempt, delay)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


_clients: dict[str, MlflowClient] = {}


@contextlib.contextmanager
def creation_lock(db: Path) -> Iterator[None]:
    """Hold `<db>.lock` (an OS file lock) while MLflow creates or migrates the SQLite file.

    MlflowClient runs MLflow's schema migrations on first use; two processes doing that at
    once on a new store fail ("table ... already exists", alembic version errors). With the
    lock one process creates the store and the others wait, then find it ready.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock, as before
        yield
        return
    with open(db.with_name(db.name + LOCK_SUFFIX), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def client(store: Store) -> MlflowClient:
    """One MlflowClient per URI and process (workers are reused across jobs)."""
    if store.uri not in _clients:
        from mlflow.tracking import MlflowClient

        def open_store() -> MlflowClient:
            return retry(lambda: MlflowClient(tracking_uri=store.uri), "open store")

        if store.is_sqlite:
            with creation_lock(Path(store.uri.split(":///", 1)[-1])):
                _clients[store.uri] = open_store()
        else:
            _clients[store.uri] = open_store()
    return _clients[store.uri]


_experiment_ids: dict[tuple[str, str], str] = {}


def ensure_experiment(store: Store, name: str) -> str:
    """The experiment id for name, created (with our artifact root) when missing; looked up
    once per store and process (a worker logs many jobs)."""
    if (store.uri, name) not in _experiment_ids:
        _experiment_ids[(store.uri, name)] = _get_or_create_experiment(store, name)
    return _experiment_ids[(store.uri, name)]


def _get_or_create_experiment(store: Store, name: str) -> str:
    c = client(store)

    def get_or_create() -> str:
        exp = c.get_experiment_by_name(name)
        if exp is not None:
            if EXPERIMENT_KIND_TAG not in exp.tags:  # made before the tag, or by hand
                c.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            return exp.experiment_id
        location = f"{store.artifact_root.rstrip('/')}/{name}" if store.artifact_root else None
        tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        try:
            return c.create_experiment(name, artifact_location=location, tags=tags)
        except Exception as exc:  # created meanwhile by another process
            exp = c.get_experiment_by_name(name)
            if exp is None:
                raise exc
            return exp.experiment_id

    return retry(get_or_create, f"experiment {name}")
