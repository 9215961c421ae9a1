"""Structured-config schema of ems-sweep, registered with Hydra's ConfigStore.

The schema makes OmegaConf reject misspelt keys, wrong types and unknown enum values at compose
time; `validate` adds the checks that span fields (soc_min <= soc_max, ...). Both report one
message naming the key, the value given and what is allowed, before any work starts.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import zoneinfo
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


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
    kind: TariffKind = TariffKind.dynamic
    feed_in_eur_per_kwh: float = 0.08
    network_fee_eur_per_kwh: float = 0.09
    levies_eur_per_kwh: float = 0.05
    vat: float = 0.19
    flat_price_eur_per_kwh: float = 0.32
    peak_price_eur_per_kwh: float = 0.38
    offpeak_price_eur_per_kwh: float = 0.24
    peak_hours: list[int] = field(default_factory=lambda: list(range(7, 21)))


@dataclass
class PipelineConfig:
    name: PipelineName = PipelineName.comparison
    # Schedule plots are drawn for the first max_plot_days days only (~0.5 s CPU each, so long
    # runs stay fast); redraw more later: python -m ems_sweep.report.job_plots <job dir>
    # --max-days N.
    max_plot_days: int = 2
    # false: no plots at all in the job (the largest Python cost of a short job); any job dir
    # can be drawn later with `python -m ems_sweep.report.job_plots <job dir>`.
    plots: bool = True
    # Rolling horizon: plan today plus the next days (horizon_days in all, 1 = no look-ahead),
    # commit today, carry the storage state; truncated at the end of the period. With 1, storage
    # left at midnight is worth nothing to the optimizer, so it drains it (a myopic EMS).
    horizon_days: int = 2
    # End of the period: no_less = the optimized storage (battery + EV) ends with at least the
    # baseline's; value = the difference is valued at end_storage_price_eur_per_kwh and added
    # to the savings as its own figure (end_storage_value_eur).
    end_storage: EndStorage = EndStorage.no_less
    end_storage_price_eur_per_kwh: float | None = None
    # true: also split the saving into appliance shifting, battery and EV (Shapley values over
    # the flexibilities, each "off" = as in the baseline; pipelines/attribution.py). Comparison
    # pipeline and MILP modes only; each coalition is one more period run.
    attribution: bool = False
    # Learning (pipeline B); ignored by comparison.
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
    tariff: TariffConfig = field(default_factory=TariffConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    n_days: int = 1
    start_date: str = "2016-06-01"
    resolution_min: int = 60
    seed: int = 42


def register_configs() -> None:
    ConfigStore.instance().store(name="ems_schema", node=EmsConfig)


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"Invalid config: {key}={value!r}; allowed: {allowed}")


def _fraction(cfg: DictConfig, key: str) -> None:
    value = OmegaConf.select(cfg, key)
    if not 0.0 <= value <= 1.0:
        _fail(key, value, "a fraction between 0 and 1")


def _non_negative(cfg: DictConfig, key: str) -> None:
    value = OmegaConf.select(cfg, key)
    if value < 0:
        _fail(key, value, "a value >= 0")


def _positive(cfg: DictConfig, key: str) -> None:
    value = OmegaConf.select(cfg, key)
    if value <= 0:
        _fail(key, value, "a value > 0")


@functools.cache
def _schema() -> DictConfig:
    """The schema as a (read-only) config, built once per process."""
    schema = OmegaConf.structured(EmsConfig)
    OmegaConf.set_readonly(schema, True)
    return schema


def _schema_node(parts: list[str]) -> tuple[bool, Any]:
    """(known?, schema node) for a dotted key: anything below a free-form dict is known."""
    node: Any = _schema()
    for part in parts:
        if not isinstance(node, DictConfig):
            return True, None  # below a leaf or list value (e.g. tariff.peak_hours.0)
        if OmegaConf.get_type(node) is dict:
            return True, None  # a dict of named entries, e.g. building.generator.appliances
        if part not in node.keys():  # `in node` is False for a MISSING value
            return False, None
        node = node._get_node(part)
    return True, node


def schema_keys() -> list[str]:
    """Every dotted key of the schema (groups and values), for suggestions."""
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key in node:
            child = node._get_node(key)
            keys.append(prefix + str(key))
            if isinstance(child, DictConfig) and OmegaConf.get_type(child) is not dict:
                walk(child, f"{prefix}{key}.")

    walk(_schema(), "")
    return keys


def check_key(key: str, given: str | None = None) -> None:
    """Raise ConfigError for a key the schema does not have, suggesting the nearest one.

    `+key=value` makes Hydra add a key to a structured config; the schema must still decide.
    """
    known, _ = _schema_node(key.split("."))
    if known:
        return
    close = difflib.get_close_matches(key, schema_keys(), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see `python -m ems_sweep --cfg job`"
    raise ConfigError(
        f"Invalid config: unknown key {key}" + (f" (from {given})" if given else "") + f"; {hint}"
    )


def check_keys(cfg: DictConfig) -> None:
    """Every key of a composed config exists in the schema (catches keys added with `+`)."""

    def walk(node: DictConfig, prefix: str) -> None:
        for key in node:
            dotted = prefix + str(key)
            check_key(dotted)
            child = node._get_node(key)
            if isinstance(child, DictConfig) and OmegaConf.get_type(child) is not dict:
                walk(child, dotted + ".")

    walk(cfg, "")


def validate(cfg: DictConfig) -> None:
    """Checks across fields that the schema cannot express; raises ConfigError on the first."""
    check_keys(cfg)
    if not 1 <= cfg.n_days <= MAX_N_DAYS:
        _fail("n_days", cfg.n_days, f"an integer >= 1 and <= {MAX_N_DAYS} (ten years)")
    if cfg.resolution_min not in (15, 60):
        _fail("resolution_min", cfg.resolution_min, "15 or 60")
    try:
        dt.date.fromisoformat(str(cfg.start_date))
    except ValueError:
        _fail("start_date", cfg.start_date, "a date as YYYY-MM-DD")

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

    _non_negative(cfg, "mode.max_delay_hours")

    bat = cfg.battery
    for key in ("capacity_kwh", "max_charge_kw", "max_discharge_kw", "cost_per_kwh_throughput"):
        _non_negative(cfg, f"battery.{key}")
    for key in ("soc_min", "soc_max", "soc_initial"):
        _fraction(cfg, f"battery.{key}")
    for key in ("charge_efficiency", "discharge_efficiency"):
        if not 0.0 < bat[key] <= 1.0:
            _fail(f"battery.{key}", bat[key], "an efficiency in (0, 1]")
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

    ev = cfg.ev
    for key in ("capacity_kwh", "charger_kw", "discharge_kw"):
        _non_negative(cfg, f"ev.{key}")
    for key in ("target_soc", "soc_min", "soc_initial"):
        _fraction(cfg, f"ev.{key}")
    for key in ("charge_efficiency", "discharge_efficiency"):
        if not 0.0 < ev[key] <= 1.0:
            _fail(f"ev.{key}", ev[key], "an efficiency in (0, 1]")
    if ev.soc_min > ev.target_soc:
        _fail("ev.soc_min", ev.soc_min, f"a value <= ev.target_soc ({ev.target_soc})")
    if not 0 <= ev.must_be_full_by_hour <= 23:
        _fail("ev.must_be_full_by_hour", ev.must_be_full_by_hour, "an hour 0..23")
    for key in ("capacity_kwh", "charger_kw"):
        if ev.enabled and ev[key] <= 0:
            _fail(f"ev.{key}", ev[key], "a value > 0 when ev.enabled=true")
    if ev.v2g and ev.discharge_kw <= 0:
        _fail("ev.discharge_kw", ev.discharge_kw, "a value > 0 when ev.v2g=true")

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
        _non_negative(cfg, f"tariff.{key}")
    bad_hours = [h for h in t.peak_hours if not 0 <= h <= 23]
    if bad_hours:
        _fail("tariff.peak_hours", list(t.peak_hours), "hours 0..23")

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
    if p.attribution and p.name != PipelineName.comparison:
        _fail("pipeline.attribution", p.attribution, "false with pipeline=learning")
    if p.attribution and cfg.mode.name == Mode.decentralized:
        _fail(
            "pipeline.attribution",
            p.attribution,
            "false with mode=decentralized (its battery and EV already follow the baseline's "
            "rules; only cycles move, so the whole saving is appliance shifting): use a MILP "
            "mode (centralized, centralized_phases)",
        )
    f = OmegaConf.select(cfg, "forecast")
    if f is not None:
        for key in ("load_weeks", "pv_days", "ev_days"):
            if f[key] < 1:
                _fail(f"forecast.{key}", f[key], "an integer >= 1")
        if f.replan_hours is not None and not 1 <= f.replan_hours <= 23:
            _fail("forecast.replan_hours", f.replan_hours, "hours 1..23, or null (once a day)")
        if p.attribution and f.name != ForecastName.perfect:
            _fail(
                "pipeline.attribution",
                p.attribution,
                "false unless forecast=perfect (the attribution holds flexibilities at the "
                "baseline's flows of a perfectly known day)",
            )
        if f.name != ForecastName.perfect and p.name != PipelineName.comparison:
            _fail("forecast", f.name.value, "perfect with pipeline=learning")
    _positive(cfg, "pipeline.prior_strength")
    _fraction(cfg, "pipeline.preference_threshold")
    _non_negative(cfg, "pipeline.penalty_eur_per_unlikely_start")
    _positive(cfg, "pipeline.convergence_threshold")
    if p.name == PipelineName.learning:
        if not 0.0 < p.training_fraction < 1.0:
            _fail("pipeline.training_fraction", p.training_fraction, "a fraction in (0, 1)")
        if cfg.n_days < 2:
            _fail("n_days", cfg.n_days, ">= 2 with pipeline=learning (training + optimization)")
        if p.training_days is not None and not 1 <= p.training_days < cfg.n_days:
            _fail("pipeline.training_days", p.training_days, f"1..{cfg.n_days - 1} (n_days - 1)")

    s = cfg.solver
    _positive(cfg, "solver.time_limit_s")
    _non_negative(cfg, "solver.mip_gap")
    if s.threads < 1:
        _fail("solver.threads", s.threads, "an integer >= 1")


def as_schema(cfg: DictConfig) -> DictConfig:
    """Merge a plain config into the schema (for configs composed outside Hydra, e.g. serving)."""
    return OmegaConf.merge(OmegaConf.structured(EmsConfig), cfg)
