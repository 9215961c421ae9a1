"""`hydra/sweeper=ems` (the default): Hydra's basic sweeper without its serial up-front compose.

Hydra's BasicSweeper composes every job's config in the launching process before the first job
starts (`validate_batch_is_legal`), and the launcher composes it again where the job runs: 0.25-
0.35 s per job, serial, growing with the sweep (48 s of a 189-job sweep). This sweeper expands
the overrides exactly as BasicSweeper does (same jobs, same order, `max_batch_size`, `params`)
and checks each distinct swept value once instead of each job:

- a config group option (`building=res9`) must exist in the group;
- a value (`battery.capacity_kwh=abc`) must be accepted by the composed schema, tried on a copy
  of the sweep's config; a value the copy refuses is confirmed by composing one job with it,
  which raises Hydra's own error (a group that only a swept option brings in is not a false
  alarm).

So a bad value still stops the sweep before any job, with Hydra's message, and each job's config
is composed once, where the job runs.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class EmsSweeper(BasicSweeper):
    """BasicSweeper whose batch check costs one check per distinct value, not a compose per job."""

    def __init__(self, max_batch_size: int | None, params: dict[str, str] | None = None) -> None:
        # Not BasicSweeper.__init__: its `super(BasicSweeper, self)` names the module's class,
        # which Hydra's plugin scan may have re-imported (then this is no subclass of it).
        Sweeper.__init__(self)
        self.overrides = None
        self.batch_index = 0
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.hydra_context = None
        self.config = None
        self.launcher = None

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        assert self.config is not None and self.hydra_context is not None
        started = time.perf_counter()
        first_job: dict[str, Sequence[str]] = {}  # "key=value" -> the first job that has it
        for job in batch:
            for text in job:
                first_job.setdefault(text, job)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        by_key: dict[str, list[tuple[Override, Sequence[str]]]] = {}
        for text, job in first_job.items():
            override = parser.parse_override(text)
            by_key.setdefault(override.key_or_group, []).append((override, job))
        for key, values in by_key.items():
            if self._is_group(key):
                self._check_group(key, values)
            else:
                self._check_values(values)
        log.debug(
            "Checked %d distinct values of %d jobs in %.2f s",
            len(first_job),
            len(batch),
            time.perf_counter() - started,
        )

    def _is_group(self, key: str) -> bool:
        loader = self.hydra_context.config_loader  # type: ignore[union-attr]
        return bool(getattr(loader, "repository", None)) and loader.repository.group_exists(key)

    def _check_group(self, group: str, values: list[tuple[Override, Sequence[str]]]) -> None:
        """Each chosen option of a config group exists; else Hydra's own error (one compose)."""
        loader = self.hydra_context.config_loader  # type: ignore[union-attr]
        options = set(loader.get_group_options(group))
        for override, job in values:
            if override.is_delete():
                continue
            chosen = override.value()
            chosen = chosen if isinstance(chosen, list) else [chosen]
            if not all(str(c) in options for c in chosen):
                self._compose(job)

    def _check_values(self, values: list[tuple[Override, Sequence[str]]]) -> None:
        """Each value fits the schema on a copy of the sweep's config; a refusal is confirmed
        by composing the job (which raises Hydra's error, or passes: then it was fine)."""
        assert self.config is not None
        trial: DictConfig | None = None
        for override, job in values:
            if trial is None or override.is_delete():
                trial = copy.deepcopy(self.config)
            try:
                ConfigLoaderImpl._apply_overrides_to_config([override], trial)
            except Exception:
                self._compose(job)
                trial = None

    def _compose(self, job: Sequence[str]) -> None:
        loader = self.hydra_context.config_loader  # type: ignore[union-attr]
        loader.load_sweep_config(master_config=self.config, sweep_overrides=list(job))
