"""Structured-config schema of ems-sweep, registered with Hydra's ConfigStore.

The schema makes OmegaConf reject misspelt keys, wrong types and unknown enum values at compose
time; `validate` adds the checks that span fields (soc_min <= soc_max, ...). Both report one
message naming the key, the value given and what is allowed, before any work starts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A config value that cannot work; the message names key, value and what is allowed."""


# Ten years of local days: longer runs are not a use case, and the built-in generator and the
# day-by-day solves scale with n_days (pandas timestamps end in the year 2262 anyway).
MAX_N_DAYS = 3660


class Source(Enum):
    builtin = "builtin"
    tidy = "tidy"
    opsd = "opsd"


class Mode(Enum):
    centralized = "centralized"
    centralized_phases = "centralized_phases"
    decentralized = "decentralized"


class PipelineName(Enum):
    comparison = "comparison"
    learning = "learning"


class SolverName(Enum):
    highs = "highs"
    cbc = "cbc"


class TariffKind(Enum):
    dynamic = "dynamic"
    flat = "flat"
    tou = "tou"


class PreferenceMode(Enum):
    penalize = "penalize"
    restrict = "restrict"


class EndStorage(Enum):
    no_less = "no_less"
    value = "value"


class ForecastName(Enum):
    perfect = "perfect"
    persistence = "persistence"
    average = "average"


class LoadLag(Enum):
    day = "day"
    week = "week"


class PriorShape(Enum):
    uniform = "uniform"
    daytime = "daytime"


@dataclass
class ApplianceProfileConfig:
    """How the built-in generator draws one shiftable appliance's cycles."""

    runs_per_week: float = 3.0
    # Relative usage weight per local hour 0..23 (normalised by the generator).
    hour_weights: list[float] = field(default_factory=lambda: [1.0] * 24)
    # Phases of one cycle: (minutes, kW) pairs flattened as [[min, kw], ...].
    phases: list[list[float]] = field(default_factory=list)


@dataclass
class GeneratorConfig:
    """Parameters of a built-in (synthetic, CoSSMic-like) building."""

    base_load_kw: float = 0.25
    evening_peak_kw: float = 0.6
    morning_peak_kw: float = 0.3
    weekend_factor: float = 1.15
    freezer_kw: float = 0.0
    refrigerator_kw: float = 0.0
    heat_pump_kw_winter: float = 0.0
    pv_kwp: float = 0.0
    has_ev: bool = False
    ev_trip_kwh_mean: float = 10.0
    ev_arrival_hour_mean: float = 18.0
    ev_departure_hour_mean: float = 7.5
    # The observed (baseline) charging of the built-in EV: full power on arrival.
    ev_charger_kw: float = 3.7
    ev_charge_efficiency: float = 0.92
    appliances: dict[str, ApplianceProfileConfig] = field(default_factory=dict)


@dataclass
class QualityConfig:
    """Thresholds of the data-quality rules (ems_sweep/data/quality.py says what each one does)."""

    # Dead or stuck main meter: import, export and PV all flat (zero or constant) for at least
    # this many hours while the submetered devices draw -> the day is skipped.
    flat_meter_hours: float = 6.0
    # ... and the submetered devices drew more than this over the flat run (kWh).
    flat_meter_min_submetered_kwh: float = 0.1
    # A day whose main meters repeat those of 1..7 days before within this many kWh in every
    # step (a copied, imputed day) -> the day is skipped; a negative value turns the rule off.
    repeated_day_max_diff_kwh: float = 0.002
    # Submetered devices above the main meters' consumption by more than this share of the day's
    # consumption (and at least 0.05 kWh) -> the day is flagged (the excess is clipped).
    submeter_excess_share: float = 0.05
    # A day whose median |price| exceeds this (EUR/kWh) is taken as EUR/MWh -> error.
    price_max_eur_per_kwh: float = 1.0
    # Negative values below -this (kWh) in consumption-side columns (import, devices, EV) are
    # treated as missing and flag the day; a column that is mostly negative is an error.
    negative_tolerance_kwh: float = 0.001


@dataclass
class BuildingConfig:
    """Which building's data a job uses and how its columns map to the internal names."""

    name: str = MISSING
    source: Source = Source.builtin
    id: str = MISSING
    path: str | None = None
    timezone: str = "Europe/Berlin"
    shiftable: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    # PV columns, summed (several arrays); None: every `<id>_pv*` column of the file.
    pv_columns: list[str] | None = None
    import_column: str | None = None
    export_column: str | None = None
    ev_column: str | None = None
    price_column: str | None = None
    # Files without a price column: use the built-in synthetic day-ahead price (explicit opt-in;
    # otherwise such days are skipped as having no price).
    synthetic_price: bool = False
    # A separate tidy file (CSV/parquet, utc_timestamp + a price column in EUR/kWh) holding the
    # day-ahead price, e.g. for OPSD household files, which have none; price_column then names
    # its column (default: the first column whose name contains "price").
    price_path: str | None = None
    # Time zone of timestamps written without one (e.g. "Europe/Berlin" or "UTC"); None: such
    # timestamps are an error, since reading local time as UTC shifts every hour.
    file_timezone: str | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)
    # A step belongs to a cycle when the device draws more than this many kW on average.
    cycle_threshold_kw: float = 0.05
    # Runs of one device with a pause of at most this many hours are one programme; merged runs
    # below min_cycle_kwh are standby blips, not cycles (defaults: see ems_sweep/data/cycles.py).
    cycle_max_pause_hours: float = 1.0
    cycle_min_kwh: float = 0.1
    # Gaps up to this many hours are interpolated (and reported); longer gaps skip the day.
    max_fill_hours: int = 2
    grid_import_limit_kw: float = 17.0
    grid_export_limit_kw: float = 10.0
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


@dataclass
class ModeConfig:
    name: Mode = Mode.centralized
    # A cycle may start at its observed start or up to this many hours later: an EMS can delay a
    # programme the user has started, not run it before the machine was loaded.
    max_delay_hours: float = 6.0
    # true: a cycle may also start up to max_delay_hours earlier (studies that assume the user
    # plans ahead); named in the run's params and its report.md.
    allow_advance: bool = False


@dataclass
class BatteryConfig:
    enabled: bool = True
    capacity_kwh: float = 10.0
    max_charge_kw: float = 3.0
    max_discharge_kw: float = 3.0
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc_min: float = 0.1
    soc_max: float = 0.9
    soc_initial: float = 0.5
    cost_per_kwh_throughput: float = 0.0


@dataclass
class EVConfig:
    enabled: bool = False
    capacity_kwh: float = 60.0
    charger_kw: float = 7.4
    charge_efficiency: float = 0.92
    v2g: bool = False
    discharge_kw: float = 0.0
    discharge_efficiency: float = 0.92
    # The car must hold target_soc by this local hour whenever it leaves after it.
    must_be_full_by_hour: int = 7
    target_soc: float = 1.0
    soc_min: float = 0.1
    soc_initial: float = 0.8
    # Where the building data meters the EV: the charger power is the meter's peak and the car
    # starts at target_soc, so the baseline (charge on arrival) reproduces the metered charging;
    # false: charger_kw and soc_initial as given.
    follow_meter: bool = True


@dataclass
class TariffConfig:
    """What every tariff has; each tariff=<kind> option's schema adds its own prices."""

    kind: TariffKind = MISSING
    feed_in_eur_per_kwh: float = 0.08


@dataclass
class DynamicTariffConfig(TariffConfig):
    """Import = (day-ahead + network fee + levies) x (1 + VAT)."""

    kind: TariffKind = TariffKind.dynamic
    network_fee_eur_per_kwh: float = 0.09
    levies_eur_per_kwh: float = 0.05
    vat: float = 0.19


@dataclass
class FlatTariffConfig(TariffConfig):
    """One import price at every hour."""

    kind: TariffKind = TariffKind.flat
    flat_price_eur_per_kwh: float = 0.32


@dataclass
class TouTariffConfig(TariffConfig):
    """Time of use: the peak price in the local hours peak_hours, off-peak otherwise."""

    kind: TariffKind = TariffKind.tou
    peak_price_eur_per_kwh: float = 0.38
    offpeak_price_eur_per_kwh: float = 0.24
    peak_hours: list[int] = field(default_factory=lambda: list(range(7, 21)))


@dataclass
class PipelineConfig:
    """What both pipelines have; pipeline=comparison and pipeline=learning add their own."""

    name: PipelineName = MISSING
    # Schedule plots are drawn for the first max_plot_days days only (~0.5 s CPU each, so long
    # runs stay fast); redraw more later: python -m ems_sweep.report.job_plots <job dir>
    # --max-days N.
    max_plot_days: int = 2
    # null (default): drawn in a single run, not in a sweep's jobs, where drawing cost more than
    # the job's own work (benchmarks/README.md); true/false: always/never. Any job dir, or all of
    # a sweep's, can be drawn later: python -m ems_sweep.report.job_plots <sweep dir>/*/
    plots: bool | None = None
    # Rolling horizon: plan today plus the next days (horizon_days in all, 1 = no look-ahead),
    # commit today, carry the storage state; truncated at the end of the period. With 1, storage
    # left at midnight is worth nothing to the optimizer, so it drains it (a myopic EMS).
    horizon_days: int = 2
    # End of the period: no_less = the optimized storage (battery + EV) ends with at least the
    # baseline's; value = the difference is valued at end_storage_price_eur_per_kwh and added
    # to the savings as its own figure (end_storage_value_eur).
    end_storage: EndStorage = EndStorage.no_less
    end_storage_price_eur_per_kwh: float | None = None


@dataclass
class ComparisonPipelineConfig(PipelineConfig):
    """Pipeline A: baseline vs optimized, day by day."""

    name: PipelineName = PipelineName.comparison
    # true: also split the saving into appliance shifting, battery and EV (Shapley values over
    # the flexibilities, each "off" = as in the baseline; pipelines/attribution.py). MILP modes
    # only; each coalition is one more period run.
    attribution: bool = False


@dataclass
class LearningPipelineConfig(PipelineConfig):
    """Pipeline B: learn start-hour preferences on the first days, optimize the rest with them."""

    name: PipelineName = PipelineName.learning
    # None: round(training_fraction * n_days).
    training_days: int | None = None
    training_fraction: float = 0.67
    # Dirichlet pseudo-counts spread over the 24 hours.
    prior_strength: float = 2.0
    # uniform | daytime (less mass at night).
    prior_shape: PriorShape = PriorShape.daytime
    # JS divergence between consecutive posteriors that counts as settled.
    convergence_threshold: float = 0.01
    # penalize (default) | restrict. Why penalize: with a weak prior the posterior of an hour
    # never seen in training quickly drops under preference_threshold (after ~4 starts with
    # prior_strength 2), so restrict would forbid most of the day after two weeks of data and
    # turn one unusual observed evening into a hard rule; penalize keeps every hour possible,
    # charges penalty_eur_per_unlikely_start x (1 - p/p_max) in the objective only (never in
    # reported costs), and so trades comfort against money smoothly. restrict is the strict
    # option for households that want guarantees; the checker then rejects any cycle moved into
    # a forbidden hour.
    preference_mode: PreferenceMode = PreferenceMode.penalize
    # Hours below this probability are "rarely used".
    preference_threshold: float = 0.02
    penalty_eur_per_unlikely_start: float = 0.05


# The schema of each option of the groups whose options differ in their fields: registered as
# schema/<group>/<option> (out of the group, so that it is no choice of its own), the first entry
# of that option's defaults list as `/schema/<group>/<option>@_here_` (conf/tariff/tou.yaml).
SCHEMA_GROUP = "schema"
VARIANTS: dict[str, dict[str, type]] = {
    "tariff": {
        TariffKind.dynamic.value: DynamicTariffConfig,
        TariffKind.flat.value: FlatTariffConfig,
        TariffKind.tou.value: TouTariffConfig,
    },
    "pipeline": {
        PipelineName.comparison.value: ComparisonPipelineConfig,
        PipelineName.learning.value: LearningPipelineConfig,
    },
}
# The field of each such group that names its variant.
VARIANT_FIELD = {"tariff": "kind", "pipeline": "name"}


@dataclass
class ForecastConfig:
    """What the optimizer knows when it plans (ems_sweep/forecast/ says what each one reads).

    perfect: the day's actual load, PV, EV trips and appliance cycles (an upper bound). Any
    other forecaster plans on data strictly before the planning time, knows no appliance cycle
    in advance, and its plan is executed against the actual data (optimize/execute.py).
    """

    name: ForecastName = ForecastName.perfect
    # persistence: load = the same hours of the previous day (day) or of the same weekday last
    # week (week); PV = the previous day's profile; EV trips = the previous day's.
    load_lag: LoadLag = LoadLag.day
    # average: load = mean of the same hours of the last load_weeks same weekdays; PV = mean
    # profile of the last pv_days days; EV = the usual trip of the last ev_days days (median
    # departure, time away and energy, when the car left on at least half of them).
    load_weeks: int = 4
    pv_days: int = 3
    ev_days: int = 7
    # Re-plan every this many hours during the day from the executed state (an MPC loop: the
    # rest of today plus the look-ahead, same forecasts); None: once a day at midnight.
    replan_hours: int | None = None


@dataclass
class SolverConfig:
    name: SolverName = SolverName.highs
    time_limit_s: float = 60.0
    mip_gap: float = 0.001
    threads: int = 1
    msg: bool = False


@dataclass
class TrackingConfig:
    enabled: bool = True
    # None: the project's store, mlflow_runs/mlflow.db (SQLite) beside outputs/.
    uri: str | None = None
    artifact_location: str | None = None
    # None: Pipeline_A_Comparison / Pipeline_B_Learning after the pipeline.
    experiment: str | None = None
    log_artifacts: bool = True
    log_model: bool = False
    # MLflow's HTTP client (remote stores, e.g. tracking=server): ride out a short outage or
    # restart of the server. A failed request (refused connection, time-out, 429/5xx) is
    # retried after 0, 4, 8, 16, 32, 64 s (backoff_factor * 2**(n-1)), i.e. about 2 min in
    # all, before the job gives up on MLflow (its files stay; replay with
    # `python -m ems_sweep.tracking sync <sweep dir>`). Sets MLFLOW_HTTP_REQUEST_* variables.
    http_request_max_retries: int = 6
    http_request_timeout_s: int = 60
    http_request_backoff_factor: int = 2


@dataclass
class EmsConfig:
    building: BuildingConfig = field(default_factory=BuildingConfig)
    mode: ModeConfig = field(default_factory=ModeConfig)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    ev: EVConfig = field(default_factory=EVConfig)
    tariff: TariffConfig = field(default_factory=DynamicTariffConfig)
    pipeline: PipelineConfig = field(default_factory=ComparisonPipelineConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    n_days: int = 1
    start_date: str = "2016-06-01"
    resolution_min: int = 60
    seed: int = 42


def register_configs() -> None:
    """The schema of the primary config and of each option of pipeline and tariff.

    In the primary schema pipeline and tariff are open (MISSING, typed by their common base):
    the option chosen in the defaults list brings its own schema (EmsConfig() in Python keeps
    comparison and dynamic, as conf/config.yaml chooses).
    """
    store = ConfigStore.instance()
    schema = OmegaConf.structured(EmsConfig)
    for group in VARIANTS:
        schema[group] = MISSING
    store.store(name="ems_schema", node=schema)
    for group, options in VARIANTS.items():
        for option, schema in options.items():
            store.store(group=f"{SCHEMA_GROUP}/{group}", name=option, node=schema)


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"Invalid config: {key}={value!r}; allowed: {allowed}")


def _value(cfg: Any, key: str) -> Any:
    """The value at a dotted key of a composed (DictConfig) or typed (EmsConfig) config."""
    return functools.reduce(getattr, key.split("."), cfg)


def _fraction(cfg: Any, key: str) -> None:
    value = _value(cfg, key)
    if not 0.0 <= value <= 1.0:
        _fail(key, value, "a fraction between 0 and 1")


def _non_negative(cfg: Any, key: str) -> None:
    value = _value(cfg, key)
    if value < 0:
        _fail(key, value, "a value >= 0")


def _positive(cfg: Any, key: str) -> None:
    value = _value(cfg, key)
    if value <= 0:
        _fail(key, value, "a value > 0")


def _efficiency(cfg: Any, key: str) -> None:
    value = _value(cfg, key)
    if not 0.0 < value <= 1.0:
        _fail(key, value, "an efficiency in (0, 1]")


@functools.cache
def _schema() -> DictConfig:
    """The schema as a (read-only) config, built once per process."""
    schema = OmegaConf.structured(EmsConfig)
    OmegaConf.set_readonly(schema, True)
    return schema


@functools.cache
def _variant_schema(group: str, option: str) -> DictConfig:
    schema = OmegaConf.structured(VARIANTS[group][option])
    OmegaConf.set_readonly(schema, True)
    return schema


def _schema_nodes(parts: list[str]) -> list[Any]:
    """The schema nodes a dotted key's parent path can be (every variant of a variant group)."""
    if parts and parts[0] in VARIANTS:
        return [_variant_schema(parts[0], option) for option in VARIANTS[parts[0]]]
    return [_schema()]


def _known_in(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(node, DictConfig):
            return True  # below a leaf or list value (e.g. tariff.peak_hours.0)
        if OmegaConf.get_type(node) is dict:
            return True  # a dict of named entries, e.g. building.generator.appliances
        if part not in node.keys():  # `in node` is False for a MISSING value
            return False
        node = node._get_node(part)
    return True


def _is_known(parts: list[str]) -> bool:
    """Whether a dotted key exists in the schema: in any variant of pipeline and tariff (the
    option chosen decides; Hydra rejects a key its option's schema lacks)."""
    if parts and parts[0] in VARIANTS:
        return len(parts) == 1 or any(_known_in(n, parts[1:]) for n in _schema_nodes(parts))
    return _known_in(_schema(), parts)


def schema_keys() -> list[str]:
    """Every dotted key of the schema (groups and values, every variant's), for suggestions."""
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key in node:
            child = node._get_node(key)
            if prefix + str(key) not in keys:
                keys.append(prefix + str(key))
            if isinstance(child, DictConfig) and OmegaConf.get_type(child) is not dict:
                walk(child, f"{prefix}{key}.")

    walk(_schema(), "")
    for group, options in VARIANTS.items():
        for option in options:
            walk(_variant_schema(group, option), f"{group}.")
    return keys


def _unknown_key(key: str, given: str | None = None, option: str | None = None) -> ConfigError:
    where = f" (from {given})" if given else ""
    group, _, rest = key.partition(".")
    if option is not None:  # a key of another option of the group, e.g. pipeline.prior_strength
        parts = rest.split(".")
        owners = [o for o in VARIANTS[group] if _known_in(_variant_schema(group, o), parts)]
        if owners:
            return ConfigError(
                f"Invalid config: unknown key {key}{where} with {group}={option}; it is a key of "
                + " and ".join(f"{group}={o}" for o in owners)
            )
    close = difflib.get_close_matches(key, schema_keys(), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see `python -m ems_sweep --cfg job`"
    return ConfigError(f"Invalid config: unknown key {key}{where}; {hint}")


def check_key(key: str, given: str | None = None, options: Sequence[str] = ()) -> None:
    """Raise ConfigError for a key the schema does not have, suggesting the nearest one.

    `+key=value` makes Hydra add a key to a structured config; the schema must still decide.
    `options`: the chosen options of the key's group when it is pipeline or tariff (each must
    have the key: Hydra would only say "Could not override"); a user's own option (found via
    hydra.searchpath) is left to Hydra, which checks it against the schema it inherits.
    """
    parts = key.split(".")
    if not _is_known(parts):
        raise _unknown_key(key, given)
    for option in options:
        if len(parts) > 1 and option in VARIANTS[parts[0]]:
            if not _known_in(_variant_schema(parts[0], option), parts[1:]):
                raise _unknown_key(key, given, option)


def check_keys(cfg: DictConfig) -> None:
    """Every key of a composed config exists in its node's schema (catches keys added with `+`,
    also a key of another variant, e.g. pipeline.prior_strength with pipeline=comparison)."""

    def walk(node: DictConfig, prefix: str) -> None:
        schema = OmegaConf.get_type(node)
        names = {f.name for f in dataclasses.fields(schema)} if schema is not dict else None
        for key in node:
            dotted = prefix + str(key)
            if names is not None and key not in names:
                group = dotted.partition(".")[0]
                option = _option_name(cfg, group) if group in VARIANTS and prefix else None
                raise _unknown_key(dotted, option=option)
            child = node._get_node(key)
            if isinstance(child, DictConfig) and OmegaConf.get_type(child) is not dict:
                walk(child, dotted + ".")

    walk(cfg, "")


def validate(cfg: DictConfig | EmsConfig) -> None:
    """Checks across fields that the schema cannot express; raises ConfigError on the first."""
    if isinstance(cfg, DictConfig):
        check_keys(cfg)
    _validate_period(cfg)
    _validate_building(cfg)
    _non_negative(cfg, "mode.max_delay_hours")
    for group in VARIANTS:
        _validate_variant(cfg, group)
    _validate_battery(cfg)
    _validate_ev(cfg)
    _validate_tariff(cfg)
    _validate_pipeline(cfg)
    _validate_forecast(cfg)
    if cfg.pipeline.name == PipelineName.learning:
        _validate_learning(cfg)
    _validate_solver(cfg)


def _validate_period(cfg: Any) -> None:
    if not 1 <= cfg.n_days <= MAX_N_DAYS:
        _fail("n_days", cfg.n_days, f"an integer >= 1 and <= {MAX_N_DAYS} (ten years)")
    if cfg.resolution_min not in (15, 60):
        _fail("resolution_min", cfg.resolution_min, "15 or 60")
    try:
        dt.date.fromisoformat(str(cfg.start_date))
    except ValueError:
        _fail("start_date", cfg.start_date, "a date as YYYY-MM-DD")


def _validate_building(cfg: Any) -> None:
    b = cfg.building
    if b.source != Source.builtin and not b.path:
        _fail("building.path", b.path, f"a file path when building.source={b.source.value}")
    if b.source != Source.builtin and b.path and b.path.startswith("???"):
        _fail("building.path", b.path, "a file path")
    _positive(cfg, "building.cycle_threshold_kw")
    _non_negative(cfg, "building.cycle_max_pause_hours")
    _non_negative(cfg, "building.cycle_min_kwh")
    _non_negative(cfg, "building.max_fill_hours")
    _positive(cfg, "building.quality.flat_meter_hours")
    _non_negative(cfg, "building.quality.flat_meter_min_submetered_kwh")
    _non_negative(cfg, "building.quality.submeter_excess_share")
    _positive(cfg, "building.quality.price_max_eur_per_kwh")
    _non_negative(cfg, "building.quality.negative_tolerance_kwh")
    if b.file_timezone:
        try:
            zoneinfo.ZoneInfo(str(b.file_timezone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            _fail("building.file_timezone", b.file_timezone, "an IANA time zone, e.g. UTC")
    _positive(cfg, "building.grid_import_limit_kw")
    _non_negative(cfg, "building.grid_export_limit_kw")


def _validate_battery(cfg: Any) -> None:
    bat = cfg.battery
    for key in ("capacity_kwh", "max_charge_kw", "max_discharge_kw", "cost_per_kwh_throughput"):
        _non_negative(cfg, f"battery.{key}")
    for key in ("soc_min", "soc_max", "soc_initial"):
        _fraction(cfg, f"battery.{key}")
    for key in ("charge_efficiency", "discharge_efficiency"):
        _efficiency(cfg, f"battery.{key}")
    if bat.soc_min > bat.soc_max:
        _fail("battery.soc_min", bat.soc_min, f"a value <= battery.soc_max ({bat.soc_max})")
    if not bat.soc_min <= bat.soc_initial <= bat.soc_max:
        _fail(
            "battery.soc_initial",
            bat.soc_initial,
            f"a value between battery.soc_min ({bat.soc_min}) and battery.soc_max ({bat.soc_max})",
        )
    if bat.enabled and bat.capacity_kwh <= 0:
        _fail("battery.capacity_kwh", bat.capacity_kwh, "a value > 0 when battery.enabled=true")


def _validate_ev(cfg: Any) -> None:
    ev = cfg.ev
    for key in ("capacity_kwh", "charger_kw", "discharge_kw"):
        _non_negative(cfg, f"ev.{key}")
    for key in ("target_soc", "soc_min", "soc_initial"):
        _fraction(cfg, f"ev.{key}")
    for key in ("charge_efficiency", "discharge_efficiency"):
        _efficiency(cfg, f"ev.{key}")
    if ev.soc_min > ev.target_soc:
        _fail("ev.soc_min", ev.soc_min, f"a value <= ev.target_soc ({ev.target_soc})")
    if not 0 <= ev.must_be_full_by_hour <= 23:
        _fail("ev.must_be_full_by_hour", ev.must_be_full_by_hour, "an hour 0..23")
    for key in ("capacity_kwh", "charger_kw"):
        if ev.enabled and getattr(ev, key) <= 0:
            _fail(f"ev.{key}", getattr(ev, key), "a value > 0 when ev.enabled=true")
    if ev.v2g and ev.discharge_kw <= 0:
        _fail("ev.discharge_kw", ev.discharge_kw, "a value > 0 when ev.v2g=true")


def _validate_tariff(cfg: Any) -> None:
    """Prices >= 0 and hours 0..23, for the fields the chosen tariff has."""
    t = cfg.tariff
    for key in (
        "feed_in_eur_per_kwh",
        "network_fee_eur_per_kwh",
        "levies_eur_per_kwh",
        "vat",
        "flat_price_eur_per_kwh",
        "peak_price_eur_per_kwh",
        "offpeak_price_eur_per_kwh",
    ):
        if hasattr(t, key):
            _non_negative(cfg, f"tariff.{key}")
    bad_hours = [h for h in getattr(t, "peak_hours", []) if not 0 <= h <= 23]
    if bad_hours:
        _fail("tariff.peak_hours", list(t.peak_hours), "hours 0..23")


def _validate_pipeline(cfg: Any) -> None:
    """What both pipelines share, and where the attribution can run."""
    p = cfg.pipeline
    _non_negative(cfg, "pipeline.max_plot_days")
    if p.horizon_days < 1:
        _fail("pipeline.horizon_days", p.horizon_days, "an integer >= 1 (1 = no look-ahead)")
    price = p.end_storage_price_eur_per_kwh
    if p.end_storage == EndStorage.value and (price is None or price < 0):
        _fail(
            "pipeline.end_storage_price_eur_per_kwh",
            price,
            "a price >= 0 in EUR/kWh when pipeline.end_storage=value",
        )
    if getattr(p, "attribution", False) and cfg.mode.name == Mode.decentralized:
        _fail(
            "pipeline.attribution",
            p.attribution,
            "false with mode=decentralized (its battery and EV already follow the baseline's "
            "rules; only cycles move, so the whole saving is appliance shifting): use a MILP "
            "mode (centralized, centralized_phases)",
        )


def _validate_forecast(cfg: Any) -> None:
    f, p = cfg.forecast, cfg.pipeline
    for key in ("load_weeks", "pv_days", "ev_days"):
        if getattr(f, key) < 1:
            _fail(f"forecast.{key}", getattr(f, key), "an integer >= 1")
    if f.replan_hours is not None and not 1 <= f.replan_hours <= 23:
        _fail("forecast.replan_hours", f.replan_hours, "hours 1..23, or null (once a day)")
    if getattr(p, "attribution", False) and f.name != ForecastName.perfect:
        _fail(
            "pipeline.attribution",
            p.attribution,
            "false unless forecast=perfect (the attribution holds flexibilities at the "
            "baseline's flows of a perfectly known day)",
        )
    if f.name != ForecastName.perfect and p.name != PipelineName.comparison:
        _fail("forecast", f.name.value, "perfect with pipeline=learning")


def _validate_learning(cfg: Any) -> None:
    p = cfg.pipeline
    _positive(cfg, "pipeline.prior_strength")
    _fraction(cfg, "pipeline.preference_threshold")
    _non_negative(cfg, "pipeline.penalty_eur_per_unlikely_start")
    _positive(cfg, "pipeline.convergence_threshold")
    if not 0.0 < p.training_fraction < 1.0:
        _fail("pipeline.training_fraction", p.training_fraction, "a fraction in (0, 1)")
    if cfg.n_days < 2:
        _fail("n_days", cfg.n_days, ">= 2 with pipeline=learning (training + optimization)")
    if p.training_days is not None and not 1 <= p.training_days < cfg.n_days:
        _fail("pipeline.training_days", p.training_days, f"1..{cfg.n_days - 1} (n_days - 1)")


def _validate_solver(cfg: Any) -> None:
    _positive(cfg, "solver.time_limit_s")
    _non_negative(cfg, "solver.mip_gap")
    if cfg.solver.threads < 1:
        _fail("solver.threads", cfg.solver.threads, "an integer >= 1")


def _option_name(cfg: Any, group: str) -> str | None:
    """The option of pipeline or tariff whose schema the config's node has (None: no option's)."""
    node = getattr(cfg, group)
    schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else type(node)
    return next((o for o, cls in VARIANTS[group].items() if issubclass(schema, cls)), None)


def _validate_variant(cfg: Any, group: str) -> None:
    """The node has one option's schema (an own option inherits one in its defaults list) and
    the field naming the option agrees with it (a tou schema priced as flat cannot work)."""
    field_name = VARIANT_FIELD[group]
    value = getattr(getattr(cfg, group), field_name, None)
    option = _option_name(cfg, group)
    if option is None:
        schemas = ", ".join(f"{o} or /{SCHEMA_GROUP}/{group}/{o}@_here_" for o in VARIANTS[group])
        _fail(group, getattr(value, "value", value), f"an option whose defaults list has {schemas}")
    if value.value != option:
        _fail(
            f"{group}.{field_name}",
            value.value,
            f"{option} in a {group} option with the {option} schema (choose: {group}=<option>)",
        )


def as_schema(cfg: DictConfig) -> DictConfig:
    """Merge a plain config into the schema (for configs composed outside Hydra, e.g. serving).

    pipeline and tariff get the schema of the option their name/kind says. Configs logged
    before those groups had one schema per option carry every option's fields: the fields of
    the other options are dropped (they never applied to the run).
    """
    schema = OmegaConf.structured(EmsConfig)
    plain = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    for group, options in VARIANTS.items():
        node = plain.get(group)
        if not isinstance(node, dict):
            continue
        field_name = VARIANT_FIELD[group]
        option = str(node.get(field_name, getattr(schema[group], field_name).value))
        variant = options.get(option)
        if variant is None:
            _fail(f"{group}.{field_name}", option, ", ".join(options))
        others = {f.name for cls in options.values() for f in dataclasses.fields(cls)}
        own = {f.name for f in dataclasses.fields(variant)}
        plain[group] = {k: v for k, v in node.items() if k in own or k not in others}
        schema[group] = OmegaConf.structured(variant)
    return OmegaConf.merge(schema, plain)


def typed(cfg: DictConfig) -> EmsConfig:
    """The composed config as typed objects: enums stay enums, attribute access is plain Python.

    Converted once, at a job's entry (pipelines/runner.py, serving/rows.row_configs); every
    stage below takes the EmsConfig.
    """
    try:
        return OmegaConf.to_object(cfg)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"Invalid config: {exc}") from exc
