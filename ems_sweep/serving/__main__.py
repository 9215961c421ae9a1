"""`python -m ems_sweep.serving log --run-id <id>`: log the optimizer model into a finished run.

The command-line entry of the serving package; it is the one place here that resolves the
tracking store, so the model module itself stays free of tracking.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from ems_sweep.config import ConfigError
from ems_sweep.serving.model import log_optimizer_model, run_config
from ems_sweep.tracking.store import resolve_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ems_sweep.serving", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    log_cmd = sub.add_parser("log", help="log the optimizer model into a finished run")
    log_cmd.add_argument("--run-id", required=True)
    log_cmd.add_argument("--name", default="optimizer")
    log_cmd.add_argument(
        "--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project's store"
    )
    args = parser.parse_args(argv)
    mlflow.set_tracking_uri(args.tracking_uri or _default_tracking_uri())
    try:
        info = log_optimizer_model(run_config(args.run_id), name=args.name, run_id=args.run_id)
    except (MlflowException, ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Logged model {info.model_uri} (runs:/{args.run_id}/{args.name})")
    return 0


def _default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else the project's store as the tracking callback resolves it."""
    return os.environ.get("MLFLOW_TRACKING_URI") or resolve_store({}, Path.cwd()).uri


if __name__ == "__main__":
    raise SystemExit(main())
