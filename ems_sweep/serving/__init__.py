"""The optimizer as an MLflow pyfunc model (model.py), its input rows (rows.py), the file MLflow
loads (entry.py) and the `python -m ems_sweep.serving log` command (__main__.py)."""
