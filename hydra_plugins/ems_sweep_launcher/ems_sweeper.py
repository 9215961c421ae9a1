"""`hydra/sweeper=ems`: the class Hydra instantiates; the code is ems_sweep.cli.sweeper."""

from ems_sweep.cli.sweeper import EmsSweeper as _EmsSweeper


class EmsSweeper(_EmsSweeper):
    """Hydra's basic sweeper without the serial per-job compose (see ems_sweep.cli.sweeper)."""
