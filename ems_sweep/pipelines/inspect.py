"""`python -m ems_sweep.pipelines.inspect <file> [--id PREFIX]`: a building file as read.

What a researcher runs before a sweep. It loads every local day of the file with the job's own
loader (same column mapping, quality rules and thresholds) and prints:
- the columns found and how they map to the model;
- the per-day quality record (coverage, fills, flags, skipped days with their reasons; runs of
  days with the same outcome are collapsed into one line);
- the fidelity figures: the baseline at battery=none ev=none against the meters (net exchange
  per step, import, bills at the job's tariff, netting within the step), and the metered EV.
It writes a PNG: a days x hours map of data status (present, filled, flagged, missing, skipped)
with the daily energies beside it. Exit status 0 when at least one day is usable, 1 when nothing
usable is found (the reason on one line), 2 for a bad command line.

Devices default from the file: `<id>_<device>` columns other than PV, grid and EV, shiftable when
they are washing machines, dishwashers or dryers, else fixed; `--building PRESET` takes a
conf/building preset instead, and any `key=value` overrides the job config (e.g.
`building.file_timezone=UTC`, `building.quality.flat_meter_hours=12`, `tariff=flat`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.errors import HydraException
from omegaconf import DictConfig

from ems_sweep.data.columns import ColumnError, building_ids
from ems_sweep.data.errors import DataError
from ems_sweep.data.model import OBSERVED_EV, OBSERVED_EXPORT, OBSERVED_IMPORT, PV, BuildingData
from ems_sweep.data.quality import FILLED, FLAGGED, MISSING, PRESENT
from ems_sweep.data.readers import (
    OPSD_INTERPOLATED,
    TIME_COLUMN,
    FileFormatError,
    file_columns,
    read_tidy,
    utc_index,
)
from ems_sweep.data.slicing import slice_day

SHIFTABLE_NAMES = ("dishwasher", "washing_machine", "dryer", "tumble_dryer")
NOT_DEVICES = ("pv", "grid_import", "grid_export", "ev")
SKIPPED = 4  # a status of the map only: the day was skipped (by a rule or missing data)
STATUS_COLORS = {
    PRESENT: ("present", "#4caf50"),
    FILLED: ("filled", "#ffd54f"),
    FLAGGED: ("flagged", "#ff7043"),
    MISSING: ("missing", "#bdbdbd"),
    SKIPPED: ("skipped day", "#6a1b9a"),
}


class UsageError(ValueError):
    """A command line that cannot work (exit 2)."""


@dataclass
class Inspection:
    cfg: DictConfig
    data: BuildingData
    baselines: dict[dt.date, pd.DataFrame]  # baseline table per usable day


def _devices(columns: list[str], bid: str) -> tuple[list[str], list[str]]:
    prefix = f"{bid}_"
    names = sorted(c[len(prefix) :] for c in columns if c.startswith(prefix))
    devices = [n for n in names if n not in NOT_DEVICES and not n.startswith("pv")]
    shiftable = [d for d in devices if d in SHIFTABLE_NAMES]
    return shiftable, [d for d in devices if d not in shiftable]


def inspection_config(path: Path, bid: str | None, preset: str | None, extra: list[str]):
    """The job config that reads `path` like a sweep would, over every day of the file."""
    from hydra import compose, initialize_config_module

    from ems_sweep.config import register_configs, validate

    columns = file_columns(path)
    ids = building_ids(columns)
    if bid is None:
        if len(ids) != 1:
            raise UsageError(
                f"{path} holds {len(ids)} building ids {ids or columns[:10]}; name one with --id"
            )
        bid = ids[0]
    source = "opsd" if OPSD_INTERPOLATED in pd.read_csv(path, nrows=0).columns else "tidy"
    overrides = [f"building={preset}"] if preset else []
    overrides += [f"building.source={source}", f"building.path={path}", f"building.id={bid}"]
    if not preset:
        shiftable, fixed = _devices(columns, bid)
        overrides += [f"building.shiftable=[{','.join(shiftable)}]"]
        overrides += [f"building.fixed=[{','.join(fixed)}]", "building.name=${.id}"]
    overrides += ["battery=none", "ev=none", "tracking=none", *extra]
    register_configs()
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    validate(cfg)
    return cfg


def _file_days(cfg: DictConfig) -> tuple[dt.date, int]:
    """The first local day of the file and how many days it spans."""
    b = cfg.building
    path = str(b.path)
    if b.source.value == "tidy":
        index = read_tidy(path, [], b.file_timezone).index
    else:  # OPSD: its time column
        times = pd.read_csv(path, usecols=[TIME_COLUMN])[TIME_COLUMN]
        index = utc_index(times, f"building.path={path!r}", b.file_timezone)
    local = index.tz_convert(str(cfg.building.timezone))
    first, last = local[0].date(), local[-1].date()
    return first, (last - first).days + 1


def inspect_file(cfg: DictConfig) -> Inspection:
    """Load every day of the file (the loader's rules) and run the meter-following baseline."""
    from ems_sweep.data.loader import load_building
    from ems_sweep.optimize import baseline_day, end_state, initial_state

    first, n_days = _file_days(cfg)
    cfg.start_date, cfg.n_days = first.isoformat(), n_days
    data = load_building(cfg)
    state, baselines = initial_state(cfg), {}
    for date in data.days():
        sched = baseline_day(slice_day(data, date), cfg, state)
        baselines[date] = sched.table
        state = end_state(sched)
    return Inspection(cfg, data, baselines)


def _runs(rows: list[tuple[dt.date, str]]) -> list[tuple[dt.date, dt.date, str]]:
    """Consecutive days with the same text collapsed into (first, last, text)."""
    out: list[tuple[dt.date, dt.date, str]] = []
    for date, text in rows:
        if out and out[-1][2] == text and (date - out[-1][1]).days == 1:
            out[-1] = (out[-1][0], date, text)
        else:
            out.append((date, date, text))
    return out


def _generic(text: str) -> str:
    """A flag without its per-day numbers, so days with the same problem collapse."""
    import re

    text = re.sub(r" at .*? \(", " (", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "an earlier day", text)
    return re.sub(r"\d+(\.\d+)?( kWh| steps| rows)", r"N\2", text)


def quality_lines(data: BuildingData) -> list[str]:
    q = data.quality
    usable = [x for x in q if not x.skipped]
    lines = [
        f"{len(q)} local days, {len(usable)} usable, {len(q) - len(usable)} skipped; "
        f"steps present {sum(x.present_steps for x in q)} of {sum(x.expected_steps for x in q)}, "
        f"filled {sum(x.filled_steps for x in q)}, flagged {sum(x.flagged_steps for x in q)}",
        "",
        f"{'days':<26} {'n':>4}  outcome",
    ]
    rows = []
    for x in q:
        if x.skipped:
            rows.append((x.date, f"skipped: {_generic(x.reason)}"))
        elif x.flags:
            rows.append((x.date, "flagged: " + "; ".join(_generic(f) for f in x.flags)))
        elif x.filled_steps or x.present_steps < x.expected_steps:
            rows.append((x.date, "ok, short gaps filled"))
        else:
            rows.append((x.date, "ok"))
    for lo, hi, text in _runs(rows):
        span = f"{lo}" if lo == hi else f"{lo} .. {hi}"
        lines.append(f"{span:<26} {(hi - lo).days + 1:>4}  {text}")
    return lines


def fidelity_lines(ins: Inspection) -> list[str]:
    """The baseline (battery=none ev=none) against the meters over the usable days: energies,
    the bill at the job's tariff and what explains the difference."""
    from ems_sweep.optimize import schedule as S

    frame, tables = ins.data.frame, ins.baselines
    if not tables:
        return ["no usable day: no fidelity figures"]
    base = pd.concat(tables.values())
    days = set(tables)
    used = frame[np.isin(frame.index.date, list(days))]
    lines = [f"baseline at battery=none ev=none over the {len(days)} usable days:"]
    if OBSERVED_IMPORT not in used:
        return lines + ["  no grid import meter: nothing to compare"]
    m_imp = used[OBSERVED_IMPORT].to_numpy()
    m_exp = used[OBSERVED_EXPORT].to_numpy() if OBSERVED_EXPORT in used else np.zeros(len(m_imp))
    lines += _exchange_lines(ins, base, m_imp, m_exp, OBSERVED_EXPORT in used)
    lines += _bill_lines(ins, base, m_imp, m_exp)
    raised = np.maximum(
        (base[S.FIXED_LOAD] + base[S.APPLIANCES]).to_numpy() - (m_imp - m_exp + base[S.PV]), 0.0
    )
    if raised.sum() > 1e-6:
        lines.append(
            f"    consumption raised to the submetered devices by {raised.sum():.1f} kWh in "
            f"{int((raised > 1e-6).sum())} steps (devices above the main meters: a device on "
            "its own meter, or meters out of step)"
        )
    if OBSERVED_EV in used:
        ev = used[OBSERVED_EV]
        daily = ev.groupby(ev.index.date).sum()
        lines.append(
            f"  EV meter: {ev.sum():.1f} kWh on {int((daily > 0.1).sum())} days, peak "
            f"{ev.max() / ins.data.dt_h:.2f} kW (the baseline's charger power with "
            "ev.follow_meter=true)"
        )
    return lines


def _exchange_lines(
    ins: Inspection, base: pd.DataFrame, m_imp: np.ndarray, m_exp: np.ndarray, export_metered: bool
) -> list[str]:
    """Metered vs baseline import and export (or, unmetered, the estimate's export)."""
    from ems_sweep.optimize import schedule as S

    b_imp, b_exp = base[S.IMPORT].to_numpy(), base[S.EXPORT].to_numpy()
    net_diff = np.abs((b_imp - b_exp) - (m_imp - m_exp))
    lines = [
        f"  import   metered {m_imp.sum():10.1f} kWh   baseline {b_imp.sum():10.1f} kWh   "
        f"max |diff| per step {np.abs(b_imp - m_imp).max():.3f} kWh",
    ]
    if export_metered:
        return lines + [
            f"  export   metered {m_exp.sum():10.1f} kWh   baseline {b_exp.sum():10.1f} kWh",
            f"  net exchange: max |diff| per step {net_diff.max():.3f} kWh, steps differing "
            f"{int((net_diff > 1e-6).sum())} of {len(net_diff)}",
        ]
    lines.append(
        f"  export   not metered; the estimate exports {b_exp.sum():.1f} kWh (PV hours "
        "without import: base load + devices, at most the PV, data/files.py)"
    )
    sunny = base[S.PV].to_numpy() > 0.5 * ins.data.dt_h
    if sunny.sum() >= 24 and (m_imp[sunny] > 1e-3).all():
        lines.append(
            f"  the house imports in all {int(sunny.sum())} steps with PV > 0.5 kW: the PV "
            "looks fed in through its own meter (full feed-in); building.pv_columns=[] "
            "leaves it out (consumption = import)"
        )
    return lines


def _bill_lines(
    ins: Inspection, base: pd.DataFrame, m_imp: np.ndarray, m_exp: np.ndarray
) -> list[str]:
    """The metered and the baseline bill at the job's tariff, and the netting within a step."""
    from ems_sweep.optimize import schedule as S

    b_imp, b_exp = base[S.IMPORT].to_numpy(), base[S.EXPORT].to_numpy()
    pi, pe = base[S.IMPORT_PRICE].to_numpy(), base[S.EXPORT_PRICE].to_numpy()
    metered_bill = float(np.sum(m_imp * pi) - np.sum(m_exp * pe))
    baseline_bill = float(np.sum(b_imp * pi) - np.sum(b_exp * pe))
    net = m_imp - m_exp
    netting = float(np.sum(np.maximum(net, 0) * pi) - np.sum(np.maximum(-net, 0) * pe))
    netting -= metered_bill
    both = int(np.sum((m_imp > 1e-9) & (m_exp > 1e-9)))
    return [
        f"  bill at tariff={ins.cfg.tariff.kind.value}: metered {metered_bill:.2f} EUR, baseline "
        f"{baseline_bill:.2f} EUR, difference {baseline_bill - metered_bill:+.2f} EUR",
        f"    of which netting within the step {netting:+.2f} EUR ({both} steps with both "
        "import and export)",
    ]


def draw_map(ins: Inspection, path: Path) -> Path:
    """days x hours status map, daily energies beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    data = ins.data
    status = data.step_status
    days = [q.date for q in data.quality]
    row = {d: i for i, d in enumerate(days)}
    grid = np.full((len(days), 24), -1, dtype=int)  # the worst status of the hour's steps
    for ts, value in zip(status.index, status.to_numpy(), strict=True):
        r = row.get(ts.date())
        if r is not None:
            grid[r, ts.hour] = max(grid[r, ts.hour], value)
    grid[grid < 0] = MISSING  # no step of that hour in the file
    for q in data.quality:
        if q.skipped:
            hours = grid[row[q.date]]
            hours[hours != MISSING] = SKIPPED
    frame = data.frame
    local = frame.index.date
    energies = {}
    for col, label in ((OBSERVED_IMPORT, "import"), (OBSERVED_EXPORT, "export"), (PV, "PV")):
        if col in frame:
            energies[label] = frame[col].groupby(local).sum(min_count=1).reindex(days)
    if OBSERVED_EV in frame:
        energies["EV"] = frame[OBSERVED_EV].groupby(local).sum(min_count=1).reindex(days)
    height = min(max(4.0, len(days) / 40), 16)
    fig, (ax, side) = plt.subplots(
        1, 2, figsize=(11, height), sharey=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    codes = sorted(STATUS_COLORS)
    cmap = ListedColormap([STATUS_COLORS[c][1] for c in codes])
    ax.imshow(grid, aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(codes) - 0.5,
              interpolation="nearest")  # fmt: skip
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlabel(f"local hour ({data.timezone})")
    ticks = np.linspace(0, len(days) - 1, min(len(days), 12)).astype(int)
    ax.set_yticks(ticks, [days[i].isoformat() for i in ticks])
    ax.set_title(f"{data.building}: data status per hour")
    ax.legend(
        handles=[Patch(color=STATUS_COLORS[c][1], label=STATUS_COLORS[c][0]) for c in codes],
        loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=5, fontsize=8, frameon=False,
    )  # fmt: skip
    y = np.arange(len(days))
    for label, series in energies.items():
        side.plot(series.to_numpy(), y, label=label, linewidth=0.8)
    side.set_xlabel("kWh per day")
    side.set_title("daily energies (meters)")
    side.legend(fontsize=8, loc="lower right")
    side.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(ins: Inspection, png: Path) -> str:
    data, b = ins.data, ins.cfg.building
    lines = [
        f"file: {b.path}",
        f"building.id={b.id} source={b.source.value} timezone={b.timezone} "
        f"days {data.quality[0].date} .. {data.quality[-1].date}",
        f"shiftable={list(b.shiftable)} fixed={list(b.fixed)}",
        "",
        "columns:",
        *[f"  {k:<24} <- {v}" for k, v in data.columns.items()],
        "",
        "quality per day:",
        *quality_lines(data),
        "",
        "fidelity to the meters:",
        *fidelity_lines(ins),
        "",
        f"status map: {png}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ems_sweep.pipelines.inspect",
        description="Read a building file as the loader would: columns, quality per day, "
        "fidelity to the meters, and a days x hours status map (PNG).",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--id", dest="bid", help="building id prefix, e.g. DE_KN_residential4")
    parser.add_argument("--building", help="a conf/building preset for the mapping")
    parser.add_argument("--png", type=Path, help="status map path (default: inspect_<id>.png)")
    parser.add_argument("overrides", nargs="*", help="job config overrides, key=value")
    args = parser.parse_intermixed_args(argv)
    # the per-day warnings of the loader are the quality table here
    logging.getLogger("ems_sweep.data").setLevel(logging.ERROR)
    try:
        cfg = inspection_config(args.file.resolve(), args.bid, args.building, args.overrides)
        ins = inspect_file(cfg)
    except (UsageError, HydraException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DataError, ColumnError, FileFormatError, FileNotFoundError, ValueError) as exc:
        print(f"nothing usable: {exc}", file=sys.stderr)
        return 1
    png = args.png or Path(f"inspect_{cfg.building.id}.png")
    draw_map(ins, png)
    print(report(ins, png))
    return 0 if ins.data.days() else 1


if __name__ == "__main__":
    sys.exit(main())
