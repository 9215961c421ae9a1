"""Hydra plugin entry for ems-sweep's launcher (Hydra loads launchers from hydra_plugins only)."""
