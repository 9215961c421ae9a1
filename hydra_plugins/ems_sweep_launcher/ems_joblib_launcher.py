"""`hydra/launcher=ems_joblib`: the class Hydra instantiates; the code is ems_sweep.cli.launcher."""

from ems_sweep.cli.launcher import JoblibLauncher


class EmsJoblibLauncher(JoblibLauncher):
    """Hydra's joblib launcher that outlives a dead worker (see ems_sweep.cli.launcher)."""
