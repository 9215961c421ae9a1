"""`python -m ems_sweep.analysis.compare`: the answer of a sweep at a glance, from the MLflow store.

Reads the job runs of one sweep (the latest by default) with a single `mlflow.search_runs`
call, prints the best and worst job by a metric, a building x mode pivot and the failed jobs,
and writes runs.csv, comparison.png and report.md (optionally also to the sweep's parent run).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ems_sweep.analysis.sweep_analysis import DEFAULT_METRIC, Comparison, compare_runs, csv_frame
from ems_sweep.analysis.sweep_store import (
    LATEST_SWEEP,
    CompareError,
    Sweep,
    check_store_exists,
    client_for,
    default_tracking_uri,
    explain_empty,
    load_runs,
    resolve_experiments,
    select_sweep,
)
from ems_sweep.names import (
    COMPARE_PLOT_FILE,
    COMPARE_TABLE_FILE,
    REPORT_FILE,
    SWEEP_REPORT_FILE,
    TAG_SWEEP_DIR,
)

PARENT_ARTIFACT_DIR = "compare"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ems-sweep-compare",
        description="Compare the jobs of a sweep logged to MLflow: best/worst, pivot, failures, "
        "plus runs.csv, comparison.png, report.md and sweep_report.html.",
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: the project's store, "
        "sqlite:///<cwd>/mlflow_runs/mlflow.db)",
    )
    parser.add_argument(
        "--experiment",
        action="append",
        help="experiment name (repeatable; default: every experiment in the store)",
    )
    parser.add_argument(
        "--sweep",
        default=LATEST_SWEEP,
        help="parent run id (or a unique prefix), sweep run name, 'latest' (default) or "
        "'all' (every job run of the experiments)",
    )
    parser.add_argument(
        "--filter",
        help="extra MLflow filter on the job runs, e.g. \"params.building_id = 'res1'\"",
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"metric that ranks the jobs (default: {DEFAULT_METRIC})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for runs.csv, comparison.png, report.md, sweep_report.html (default: "
        "<sweep dir>/compare, or outputs/compare/<sweep> when the sweep dir is not on this "
        "machine; with --filter a subfolder filter-<words>-<hash> of it)",
    )
    parser.add_argument(
        "--no-files", action="store_true", help="print only; write no CSV, plot or report"
    )
    parser.add_argument(
        "--log-to-parent",
        action="store_true",
        help="also log the CSV, plot and report as artifacts of the sweep's parent run",
    )
    return parser


@dataclass
class CompareFiles:
    csv: Path
    plot: Path
    report: Path
    html: Path

    def all(self) -> tuple[Path, ...]:
        return (self.csv, self.plot, self.report, self.html)


def filter_folder(filter_string: str) -> str:
    """`filter-building_id_res1-1a2b3c`: a folder per filter, so none overwrites another."""
    words = re.sub(r"[^A-Za-z0-9]+", "_", filter_string.replace("params.", "")).strip("_")
    digest = hashlib.sha1(filter_string.encode()).hexdigest()[:6]
    return f"filter-{words[:40]}-{digest}"


def output_dir(sweep: Sweep, out: Path | None, filter_string: str | None = None) -> Path:
    """Where compare writes; a filtered selection never lands on the unfiltered files."""
    if out is not None:
        return out
    if sweep.sweep_dir is not None and sweep.sweep_dir.is_dir():
        folder = sweep.sweep_dir / "compare"
    else:
        folder = (
            Path("outputs")
            / "compare"
            / re.sub(r"[^A-Za-z0-9_.-]+", "_", sweep.run_id or "all-runs")
        )
    return folder / filter_folder(filter_string) if filter_string else folder


def write_files(
    sweep: Sweep, c: Comparison, folder: Path, filter_string: str | None = None
) -> CompareFiles:
    """The CSV of every selected run, the plot, report.md and the HTML report, in one folder."""
    from ems_sweep.analysis.sweep_html import from_comparison, write_report
    from ems_sweep.analysis.sweep_plot import plot_comparison
    from ems_sweep.analysis.sweep_report import markdown_report

    folder.mkdir(parents=True, exist_ok=True)
    files = CompareFiles(
        folder / COMPARE_TABLE_FILE,
        folder / COMPARE_PLOT_FILE,
        folder / REPORT_FILE,
        folder / SWEEP_REPORT_FILE,
    )
    csv_frame(c.runs).to_csv(files.csv, index=False)
    title = f"Sweep {sweep.name} ({sweep.experiment}): {len(c.runs)} jobs"
    plot_comparison(c.pivots, title, files.plot, c.cell_jobs, c.finished)
    files.report.write_text(markdown_report(sweep, c, files.plot, files.csv))
    facts = [f"Experiment {sweep.experiment}, parent run {sweep.run_id or '(none: all runs)'}"]
    if sweep.sweep_dir:
        facts.append(f"Sweep dir: {sweep.sweep_dir}")
    if filter_string:
        facts.append(f"Filter: {filter_string}")
    html_input = from_comparison(f"Sweep {sweep.name}", c.runs, c.dims, facts)
    write_report(html_input, files.html)
    return files


def log_to_parent(uri: str, sweep: Sweep, files: CompareFiles) -> None:
    if sweep.run_id is None:
        raise CompareError("--log-to-parent needs one sweep (not --sweep all): it has no parent")
    client = client_for(uri)
    for run_id in sweep.run_ids or [sweep.run_id]:
        for path in files.all():
            client.log_artifact(run_id, str(path), artifact_path=PARENT_ARTIFACT_DIR)


def run(args: argparse.Namespace) -> Comparison:
    """Select, analyse, print and write; raises CompareError for bad input or no runs."""
    if args.log_to_parent and args.no_files:
        raise CompareError("--log-to-parent needs the files: drop --no-files")
    uri = args.tracking_uri or default_tracking_uri()
    check_store_exists(uri)
    client = client_for(uri)
    experiments = resolve_experiments(client, args.experiment)
    sweep = select_sweep(client, experiments, args.sweep)
    runs = load_runs(uri, experiments, sweep, args.filter)
    if sweep.sweep_dir is None and f"tags.{TAG_SWEEP_DIR}" in runs.columns:
        dirs = runs[f"tags.{TAG_SWEEP_DIR}"].dropna().unique()
        if len(dirs) == 1:  # a parent without the tag: take the jobs' common sweep dir
            sweep.tags[TAG_SWEEP_DIR] = str(dirs[0])
    if runs.empty:
        raise CompareError(explain_empty(uri, experiments, sweep, args.filter))
    comparison = compare_runs(runs, args.metric)

    from ems_sweep.analysis.sweep_report import terminal_summary

    print(terminal_summary(sweep, comparison))
    if not args.no_files:
        folder = output_dir(sweep, args.out, args.filter)
        files = write_files(sweep, comparison, folder, args.filter)
        print("\nWrote " + "\n      ".join(str(p) for p in files.all()))
        if args.log_to_parent:
            log_to_parent(uri, sweep, files)
            parents = ", ".join(sweep.run_ids or [sweep.run_id])
            print(f"Logged them to parent run(s) {parents} under {PARENT_ARTIFACT_DIR}/")
    return comparison


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except CompareError as exc:
        print(f"ems-sweep-compare: error: {exc}", file=sys.stderr)
        return 2
    finally:
        # MLflow's import graph makes the interpreter's final garbage collection take ~3 s;
        # frozen objects are skipped by it (atexit handlers still run).
        gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
