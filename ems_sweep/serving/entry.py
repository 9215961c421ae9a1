"""The model file MLflow loads ("models from code"): no pickled object, just this import.

Logged by ems_sweep.serving.model.log_optimizer_model; MLflow puts the model's code_paths copy of
ems_sweep on sys.path before it runs this file.
"""

from mlflow.models import set_model

from ems_sweep.serving.model import OptimizerModel

set_model(OptimizerModel())
