"""Readers of real building files, cached per process on (path, mtime, size, columns).

Both return a UTC-indexed frame of the requested source columns as interval energies (kWh per
step) at the file's own resolution:
- tidy files (CSV, CSV.gz or parquet): one row per interval, already interval energies;
- OPSD household singleindex CSVs: cumulative meter readings, differenced here. A reading is
  taken at the start of its interval (`utc_timestamp` = start of period), so the energy of the
  interval [t, t+step) is reading(t+step) - reading(t). A negative difference (meter reset or
  replacement) is treated as missing, not as energy.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

TIME_COLUMN = "utc_timestamp"
OPSD_INTERPOLATED = "interpolated"


class FileFormatError(ValueError):
    """A file that cannot be read as the configured source."""


def check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        near = sorted(x.name for x in p.parent.glob("*")) if p.parent.is_dir() else []
        raise FileNotFoundError(
            f"building.path={str(path)!r}: no such file (cwd {Path.cwd()}); "
            + (f"files in {p.parent}: {near[:20]}" if near else f"folder {p.parent} does not exist")
        )
    return p.resolve()


def _is_parquet(p: Path) -> bool:
    return p.suffix.lower() in (".parquet", ".pq")


def file_columns(path: str | os.PathLike) -> list[str]:
    """The data columns a file holds (without its time column)."""
    p = check_file(path)
    st = p.stat()
    return list(_columns_cached(str(p), st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=16)
def _columns_cached(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    try:
        if _is_parquet(Path(path)):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            names = list(pd.read_csv(path, nrows=0).columns)
    except Exception as exc:  # unreadable or not a table
        raise FileFormatError(f"building.path={path!r}: cannot read the file: {exc}") from exc
    skip = {TIME_COLUMN, "cet_cest_timestamp", OPSD_INTERPOLATED, "__index_level_0__"}
    return tuple(c for c in names if c not in skip and not c.startswith("Unnamed"))


def _utc_index(values: pd.Series | pd.Index, path: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True, errors="coerce"))
    if idx.isna().any():
        bad = list(pd.Index(values)[idx.isna()][:3])
        raise FileFormatError(f"building.path={path!r}: unreadable timestamps, e.g. {bad}")
    return idx


def read_tidy(path: str | os.PathLike, columns: list[str]) -> pd.DataFrame:
    """Interval energies of `columns` (a copy; the parsed file stays cached)."""
    p = check_file(path)
    st = p.stat()
    return _read_tidy_cached(str(p), st.st_mtime_ns, st.st_size, tuple(sorted(columns))).copy()


@functools.lru_cache(maxsize=8)
def _read_tidy_cached(
    path: str, mtime_ns: int, size: int, columns: tuple[str, ...]
) -> pd.DataFrame:
    try:
        if _is_parquet(Path(path)):
            df = pd.read_parquet(path)
            if TIME_COLUMN in df.columns:
                df = df.set_index(TIME_COLUMN)
            frame = df[list(columns)]
            index = _utc_index(frame.index, path)
        else:
            head = list(pd.read_csv(path, nrows=0).columns)
            time_col = TIME_COLUMN if TIME_COLUMN in head else head[0]
            df = pd.read_csv(path, usecols=[time_col, *columns])
            index = _utc_index(df[time_col], path)
            frame = df[list(columns)]
    except (FileFormatError, KeyError):
        raise
    except Exception as exc:
        raise FileFormatError(f"building.path={path!r}: cannot read as a tidy file: {exc}") from exc
    out = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    out.index = index
    return out[~out.index.duplicated()].sort_index()


def read_opsd(
    path: str | os.PathLike, columns: list[str], cumulative: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Interval energies from an OPSD singleindex file, and per row whether OPSD interpolated
    any of the requested columns (its `interpolated` column)."""
    p = check_file(path)
    st = p.stat()
    frame, flags = _read_opsd_cached(
        str(p), st.st_mtime_ns, st.st_size, tuple(sorted(columns)), tuple(sorted(cumulative))
    )
    return frame.copy(), flags.copy()


@functools.lru_cache(maxsize=8)
def _read_opsd_cached(
    path: str, mtime_ns: int, size: int, columns: tuple[str, ...], cumulative: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.Series]:
    head = list(pd.read_csv(path, nrows=0).columns)
    if TIME_COLUMN not in head:
        raise FileFormatError(
            f"building.path={path!r}: not an OPSD singleindex file (no {TIME_COLUMN!r} column; "
            f"columns: {head[:8]}...)"
        )
    extra = [OPSD_INTERPOLATED] if OPSD_INTERPOLATED in head else []
    try:
        df = pd.read_csv(
            path, usecols=[TIME_COLUMN, *columns, *extra], dtype={OPSD_INTERPOLATED: str}
        )
    except Exception as exc:
        raise FileFormatError(f"building.path={path!r}: cannot read as OPSD: {exc}") from exc
    index = _utc_index(df[TIME_COLUMN], path)
    values = df[list(columns)].apply(pd.to_numeric, errors="coerce").astype(float)
    values.index = index
    values = values[~values.index.duplicated()].sort_index()
    if len(values) > 1:  # difference on the regular grid, so a missing reading leaves a gap
        step = pd.Series(values.index[1:] - values.index[:-1]).median()
        grid = pd.date_range(values.index[0], values.index[-1], freq=step)
        if len(grid) >= len(values) and values.index.isin(grid).all():
            values = values.reindex(grid)
    for col in cumulative:
        # Meters count up in absolute value (OPSD writes generation and export negative), so the
        # interval energy is the growth of |reading|; the result is a non-negative magnitude.
        reading = np.abs(values[col].to_numpy())
        energy = np.append(reading[1:] - reading[:-1], np.nan)
        energy[energy < -1e-9] = np.nan
        values[col] = np.maximum(energy, 0.0)
    if extra:
        text = df[OPSD_INTERPOLATED].fillna("")
        text.index = index
        text = text[~text.index.duplicated()].sort_index()
        # OPSD joins the names of the interpolated series with " | " (household/imputation.py).
        wanted = set(columns)
        flags = text.apply(
            lambda s: bool(wanted & {n.strip() for n in s.replace(",", "|").split("|")})
        )
    else:
        flags = pd.Series(False, index=values.index)
    return values, flags.astype(bool)
