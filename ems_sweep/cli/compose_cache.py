"""A sweep's worker reads each config file once per launch, not once per job (issue 17).

Hydra composes every job's config where the job runs (`load_sweep_config`), from nothing: per
compose it deep-copies its config repository (CachingConfigRepository) and reads and parses each
file of the defaults list again (about 18 YAML files: PyYAML, OmegaConf.create, the defaults
lists), files that are the same for every job: about 30 of the 100-115 ms of a compose
(30 composes of the project's config in one process, with and without this cache).

`caching_context` gives a job the config loader of its Hydra context with a repository that
keeps each config it loaded from a file, for the jobs that the same worker runs in the same
launch. A config is kept under the search path (type, provider and path of every source, so a
user's `hydra.searchpath` dir is a key of its own) and its config path. Each load hands out a
deep copy: Hydra's compose moves the loaded nodes into the job's config (`merge_with` under
`no_deepcopy_set_nodes`), and may replace a result's config by its schema merge, so a cached
result must never leave the cache itself. Configs of the ConfigStore (`structured://`) are not
kept: the store holds them parsed already (its load is a deep copy too), and its contents are no
part of the key.

A file is read at most once per worker and launch: a file edited while a sweep runs reaches only
the workers that had not read it yet (without the cache, every later job reads it again); the
next launch reads every file again. This builds on Hydra 1.3's internals (ConfigLoaderImpl's
`repository`, which each compose's CachingConfigRepository deep-copies); any other loader or
repository is left as it is.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.config_repository import ConfigRepository, IConfigRepository
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigResult, ConfigSource
from hydra.types import HydraContext

SourcesKey = tuple[tuple[str, str | None, str | None], ...]

_STRUCTURED = "structured://"
_loaded: dict[tuple[SourcesKey, str], ConfigResult] = {}
_launch = ""  # the launch the kept configs belong to


def caching_context(hydra_context: HydraContext, launch: str) -> HydraContext:
    """`hydra_context` whose config loader keeps the configs it reads from files during
    `launch` (any id, new per launch); unchanged if its loader or repository is not Hydra's."""
    loader = hydra_context.config_loader
    if type(loader) is not ConfigLoaderImpl or type(loader.repository) is not ConfigRepository:
        return hydra_context
    global _launch
    if _launch != launch:
        _loaded.clear()
        _launch = launch
    caching = copy.copy(loader)  # the context passed in stays as it was (n_jobs=1: the launcher's)
    caching.repository = KeptConfigRepository(loader.repository)
    return dataclasses.replace(hydra_context, config_loader=caching)


def _sources_key(sources: list[ConfigSource]) -> SourcesKey:
    return tuple((type(s).__name__, s.provider, s.path) for s in sources)


class KeptConfigRepository(IConfigRepository):
    """Hydra's ConfigRepository whose loads from files are kept for the launch (module doc)."""

    def __init__(self, delegate: ConfigRepository) -> None:
        self.delegate = delegate

    def __deepcopy__(self, memo: dict[int, Any]) -> KeptConfigRepository:
        # Each compose's CachingConfigRepository deep-copies its delegate, so that a
        # `hydra.searchpath` (initialize_sources) leaves it as it was. ConfigRepository's
        # initialize_sources assigns a new list of sources, so a shallow copy does as much.
        return KeptConfigRepository(copy.copy(self.delegate))

    def load_config(self, config_path: str) -> ConfigResult | None:
        key = (_sources_key(self.delegate.get_sources()), config_path)
        kept = _loaded.get(key)
        if kept is None:
            kept = self.delegate.load_config(config_path=config_path)
            if kept is None or kept.path.startswith(_STRUCTURED):
                return kept
            _loaded[key] = kept
        return copy.deepcopy(kept)

    def get_schema_source(self) -> ConfigSource:
        return self.delegate.get_schema_source()

    def group_exists(self, config_path: str) -> bool:
        return self.delegate.group_exists(config_path)

    def config_exists(self, config_path: str) -> bool:
        return self.delegate.config_exists(config_path)

    def get_group_options(
        self, group_name: str, results_filter: ObjectType | None = ObjectType.CONFIG
    ) -> list[str]:
        return self.delegate.get_group_options(group_name, results_filter)

    def get_sources(self) -> list[ConfigSource]:
        return self.delegate.get_sources()

    def initialize_sources(self, config_search_path: ConfigSearchPath) -> None:
        self.delegate.initialize_sources(config_search_path)
