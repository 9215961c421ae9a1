"""The command line's Hydra plugins and callbacks (sweeper, launcher, progress, outcome)."""
