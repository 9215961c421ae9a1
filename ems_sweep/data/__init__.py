"""Building data: built-in CoSSMic-like buildings, OPSD and tidy-file loaders, day slicing."""

from ems_sweep.data.loader import DataError, load_building
from ems_sweep.data.model import BuildingData, Cycle, DayCycle, DayData, DayQuality, EVTrip
from ems_sweep.data.slicing import DayNotAvailableError, slice_day

__all__ = [
    "BuildingData",
    "Cycle",
    "DataError",
    "DayCycle",
    "DayData",
    "DayNotAvailableError",
    "DayQuality",
    "EVTrip",
    "load_building",
    "slice_day",
]
