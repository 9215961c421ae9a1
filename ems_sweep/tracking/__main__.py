"""`python -m ems_sweep.tracking sync <dir>`: replay job or sweep dirs into MLflow, once."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems_sweep.tracking")
    sub = parser.add_subparsers(dest="command", required=True)
    p_sync = sub.add_parser("sync", help="log job dirs (or a sweep dir) not yet in MLflow")
    p_sync.add_argument("paths", nargs="+", type=Path, help="job dirs or sweep dirs")
    p_sync.add_argument("--uri", help="tracking URI (default: the one each job was run with)")
    p_sync.add_argument("--experiment", help="experiment name (default: after the pipeline)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from ems_sweep.tracking.sync import sync

    status = 0
    for path in args.paths:
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            status = 2
            continue
        try:
            report = sync(path, uri=args.uri, experiment=args.experiment)
        except Exception as exc:
            print(f"error: sync of {path} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(
            f"{path}: {len(report.logged)} job(s) logged, {len(report.skipped)} already in MLflow,"
            f" {len(report.parents)} parent run(s) created, {len(report.repaired)} incomplete"
            f" run(s) replaced, {len(report.ended)} parent run(s) left RUNNING ended"
            + (f", {len(report.not_started)} job(s) never started" if report.not_started else "")
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
