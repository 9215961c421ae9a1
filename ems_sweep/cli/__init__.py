"""The Hydra app around the jobs: the sweeper, the launcher, the sweep-dir, progress and
exit-code callbacks. The entry point itself is ems_sweep/__main__.py."""
