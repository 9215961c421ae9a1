"""Reading finished sweeps back: the MLflow store readers, compare, the sweep table and HTML
report, and the UI launcher. Reads the store; only compare --log-to-parent and the sweep report
callback write to it (see README, "Who writes to MLflow")."""
