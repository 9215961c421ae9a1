"""File names and MLflow tag keys shared by the stages: defined here once, imported everywhere.

The pipelines write a job's files under these names, tracking logs them and tags its runs with
these keys, and the analysis side (compare, sweep report, UI) finds runs and files by them; a
name spelled in two places would let one side drift from the other.
"""

# A job's files, in its Hydra job dir.
SUMMARY_FILE = "summary.json"  # status, error, figures, params (pipelines/result.py)
ERROR_FILE = "error.txt"  # the traceback of a failed job
DAILY_FILE = "daily.csv"
SCHEDULES_FILE = "schedules.csv"
PREFERENCES_FILE = "preferences.csv"
LEARNING_CURVE_FILE = "learning_curve.csv"
CYCLES_FILE = "cycles.csv"
PLOTS_DIR = "plots"  # the job's PNGs (report/job_plots.py)
REPORT_FILE = "report.md"  # a job's human summary; also compare's report in its output dir
JOB_RUN_FILE = "mlflow_run.json"  # written by tracking: run id, timing, logging status

# A sweep's files, in its sweep dir (and compare's output dir).
SWEEP_RUN_FILE = "mlflow_sweep.json"  # the parent run id, read by every job
SWEEP_TABLE_FILE = "sweep_table.csv"
SWEEP_REPORT_FILE = "sweep_report.html"
COMPARE_TABLE_FILE = "runs.csv"
COMPARE_PLOT_FILE = "comparison.png"

# MLflow tag keys set by tracking and read by the analysis side.
TAG_RUN_TYPE = "ems_sweep.run_type"  # RUN_TYPE_SWEEP (parent run) or RUN_TYPE_JOB (child run)
RUN_TYPE_SWEEP = "sweep"
RUN_TYPE_JOB = "job"
TAG_SWEEP_DIR = "ems_sweep.sweep_dir"  # a tag key of stored runs: never renamed with modules
TAG_JOB_DIR = "ems_sweep.job_dir"
TAG_JOB_NUM = "ems_sweep.job_num"
TAG_OVERRIDES = "ems_sweep.overrides"
TAG_COMMAND = "ems_sweep.command"
TAG_SWEPT_KEYS = "ems_sweep.swept_keys"
TAG_N_JOBS = "ems_sweep.n_jobs"
TAG_STATUS = "ems_sweep.status"
TAG_REPLAYED = "ems_sweep.replayed"  # logged later by `python -m ems_sweep.tracking sync`
# MLflow's own keys (mlflow.utils.mlflow_tags), here so that light modules need not import mlflow.
TAG_PARENT_RUN = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_ERROR = "error"  # a failed job's "Type: message" (summary.json's error)
TAG_ERROR_TYPE = "error_type"  # the exception type of a job that raised
TAG_SOLVER_STATUS = "solver_status"
TAG_NOTE = "mlflow.note.content"  # a run's description, rendered as Markdown in the UI

# Job metrics (summary.json's metrics, pipelines/kpis.py) that tracking and analysis read by name.
METRIC_SAVINGS_PCT = "savings_pct"  # the period's savings in % of |baseline cost|
METRIC_AVG_SAVINGS_PCT = "avg_savings_pct"  # the mean of the ok days' savings_pct
METRIC_SAVINGS_EUR = "savings_eur"
METRIC_TOTAL_COST = "total_cost"
METRIC_CONSTRAINT_VIOLATIONS = "constraint_violations"
METRIC_OPTIMIZATION_TIME = "optimization_time_seconds"
METRIC_OPTIMIZATION_SUCCESS = "optimization_success"

# daily.csv columns logged as `daily/<column>` step metrics, for per-day charts in the MLflow UI.
# The other columns stay in the daily.csv artifact: every metric key is a row that each run
# listing (compare, the UI's runs page) loads for every run.
DAILY_STEP_METRICS = (
    "baseline_cost_eur",
    "optimized_cost_eur",
    "savings_eur",
    "savings_pct",
    "constraint_violations",
    "end_storage_value_eur",
    "solve_s",
)
