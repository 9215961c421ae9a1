"""MLflow tracking: the Hydra callback, job-dir records and the `sync` replay command.

Importing this package does not import MLflow; only logging does.
"""

from ems_sweep.tracking.callback import MlflowTrackingCallback
from ems_sweep.tracking.record import EXPERIMENTS, JobRecord, build_record

__all__ = ["EXPERIMENTS", "JobRecord", "MlflowTrackingCallback", "build_record"]
