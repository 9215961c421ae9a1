"""Readers of real building files, cached per process on (path, mtime, size, columns).

Both return a UTC-indexed frame of the requested source columns as interval energies (kWh per
step) at the file's own resolution:
- tidy files (CSV, CSV.gz or parquet): one row per interval, already interval energies;
- OPSD household singleindex CSVs: cumulative meter readings, differenced here. A reading is
  taken at the start of its interval (`utc_timestamp` = start of period), so the energy of the
  interval [t, t+step) is reading(t+step) - reading(t). A negative difference (meter reset or
  replacement) is treated as missing, not as energy.

What cannot be right is an error here, before anything is computed, naming the file, the column,
the lines and what was expected (a FileFormatError, one line): timestamps that are unreadable,
duplicated, out of order or without a time zone (unless `building.file_timezone` names it), and
cells that are not numbers (text, comma decimals, a unit suffix). Empty cells are missing data.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

TIME_COLUMN = "utc_timestamp"
OPSD_INTERPOLATED = "interpolated"


PATH_KEY = "building.path"
_ZONE = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_SHOWN = 5  # lines named in a message


class FileFormatError(ValueError):
    """A file that cannot be read as the configured source."""


def check_file(path: str | os.PathLike, key: str = PATH_KEY) -> Path:
    p = Path(path)
    if not p.is_file():
        near = sorted(x.name for x in p.parent.glob("*")) if p.parent.is_dir() else []
        raise FileNotFoundError(
            f"{key}={str(path)!r}: no such file (cwd {Path.cwd()}); "
            + (f"files in {p.parent}: {near[:20]}" if near else f"folder {p.parent} does not exist")
        )
    return p.resolve()


def _is_parquet(p: Path) -> bool:
    return p.suffix.lower() in (".parquet", ".pq")


def file_columns(path: str | os.PathLike, key: str = PATH_KEY) -> list[str]:
    """The data columns a file holds (without its time column)."""
    p = check_file(path, key)
    st = p.stat()
    return list(_columns_cached(str(p), st.st_mtime_ns, st.st_size, key))


@functools.lru_cache(maxsize=16)
def _columns_cached(path: str, mtime_ns: int, size: int, key: str) -> tuple[str, ...]:
    try:
        if _is_parquet(Path(path)):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            names = list(pd.read_csv(path, nrows=0).columns)
    except Exception as exc:  # unreadable or not a table
        raise FileFormatError(f"{key}={path!r}: cannot read the file: {exc}") from exc
    if len(names) == 1 and ";" in names[0]:
        raise FileFormatError(
            f"{key}={path!r}: the header is separated by ';' ({names[0][:60]!r}...); expected a "
            "comma-separated file with '.' as decimal point"
        )
    skip = {TIME_COLUMN, "cet_cest_timestamp", OPSD_INTERPOLATED, "__index_level_0__"}
    return tuple(c for c in names if c not in skip and not c.startswith("Unnamed"))


def _lines(positions: np.ndarray, parquet: bool) -> str:
    """'lines 12, 13' of a CSV (header = line 1) or 'rows 11, 12' of a parquet file."""
    shown = ", ".join(str(int(p) + (1 if parquet else 2)) for p in positions[:_SHOWN])
    more = f" and {len(positions) - _SHOWN} more" if len(positions) > _SHOWN else ""
    noun = "row" if parquet else "line"
    return f"{noun}{'s' if len(positions) > 1 else ''} {shown}{more}"


def utc_index(
    values: pd.Series | pd.Index, where: str, file_timezone: str | None, parquet: bool = False
) -> pd.DatetimeIndex:
    """Timestamps as UTC; naive ones only with `building.file_timezone`, in that zone."""
    values = pd.Index(values)
    if isinstance(values, pd.DatetimeIndex):
        naive = np.full(len(values), values.tz is None)
    else:
        text = pd.Series(values.astype(str)).str.strip()
        naive = ~text.str.contains(_ZONE).to_numpy()
    if naive.any() and not file_timezone:
        first = np.nonzero(naive)[0]
        raise FileFormatError(
            f"{where}: timestamps without a time zone (e.g. {str(values[first[0]])!r} at "
            f"{_lines(first, parquet)}); expected ISO timestamps with an offset "
            "(2016-06-01T00:00:00Z) or building.file_timezone naming their zone"
        )
    if naive.any():
        if not naive.all():
            raise FileFormatError(
                f"{where}: timestamps with and without a time zone mixed "
                f"({_lines(np.nonzero(naive)[0], parquet)} lack one); expected one convention"
            )
        local = pd.DatetimeIndex(pd.to_datetime(values, errors="coerce"))
        bad = np.asarray(local.isna())
        if not bad.any():
            try:
                return local.tz_localize(file_timezone, ambiguous="infer").tz_convert("UTC")
            except (ValueError, TypeError) as exc:  # a DST gap or an ambiguous hour
                raise FileFormatError(
                    f"{where}: timestamps do not fit building.file_timezone={file_timezone!r}: "
                    f"{exc}"
                ) from exc
    else:
        idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True, errors="coerce"))
        bad = np.asarray(idx.isna())
        if not bad.any():
            return idx
    positions = np.nonzero(bad)[0]
    raise FileFormatError(
        f"{where}: unreadable timestamps at {_lines(positions, parquet)} "
        f"(e.g. {str(values[positions[0]])!r}); expected ISO timestamps"
    )


def check_order(index: pd.DatetimeIndex, where: str, parquet: bool = False) -> None:
    """One row per interval, in time order: duplicates and disorder cannot be resolved safely."""
    dup = np.asarray(index.duplicated(keep=False))
    if dup.any():
        first = index[dup][0]
        raise FileFormatError(
            f"{where}: duplicated timestamps, e.g. {first.isoformat()} at "
            f"{_lines(np.nonzero(np.asarray(index == first))[0], parquet)} "
            f"({int(dup.sum())} rows in all); expected one row per interval"
        )
    if not index.is_monotonic_increasing:
        back = np.nonzero(np.asarray(index[1:] < index[:-1]))[0] + 1
        raise FileFormatError(
            f"{where}: timestamps out of order at {_lines(back, parquet)} "
            f"({index[back[0]].isoformat()} after {index[back[0] - 1].isoformat()}); "
            "expected increasing time (sort the file)"
        )


def numeric(frame: pd.DataFrame, where: str, parquet: bool = False) -> pd.DataFrame:
    """Columns as floats; a cell that is not a number (text, '0,5', '3 kWh') is an error."""
    out = {}
    for col in frame.columns:
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        if raw.dtype == object:
            text = raw.astype(str).str.strip()
            bad = np.asarray(values.isna() & raw.notna() & (text != ""))
            if bad.any():
                example = str(raw[bad].iloc[0])
                hint = ""
                if re.fullmatch(r"-?\d+,\d+", example.strip()):
                    hint = " (comma decimals: write 0.5, not 0,5)"
                elif re.match(r"-?[\d.]+\s*\D+$", example.strip()):
                    hint = " (a unit in the cell: write the number only)"
                raise FileFormatError(
                    f"{where}: column {col!r} has non-numeric cells at "
                    f"{_lines(np.nonzero(bad)[0], parquet)}, e.g. {example!r}; expected numbers "
                    f"with '.' as decimal point{hint}"
                )
        out[col] = values.astype(float)
    return pd.DataFrame(out, index=frame.index)


def read_tidy(
    path: str | os.PathLike,
    columns: list[str],
    file_timezone: str | None = None,
    key: str = PATH_KEY,
) -> pd.DataFrame:
    """Interval energies of `columns` (a copy; the parsed file stays cached)."""
    p = check_file(path, key)
    st = p.stat()
    cols = tuple(sorted(columns))
    return _read_tidy_cached(str(p), st.st_mtime_ns, st.st_size, cols, file_timezone, key).copy()


@functools.lru_cache(maxsize=8)
def _read_tidy_cached(
    path: str,
    mtime_ns: int,
    size: int,
    columns: tuple[str, ...],
    file_timezone: str | None,
    key: str,
) -> pd.DataFrame:
    where = f"{key}={path!r}"
    parquet = _is_parquet(Path(path))
    try:
        if parquet:
            df = pd.read_parquet(path)
            if TIME_COLUMN in df.columns:
                df = df.set_index(TIME_COLUMN)
            frame = df[list(columns)]
            times: pd.Series | pd.Index = frame.index
        else:
            head = list(pd.read_csv(path, nrows=0).columns)
            time_col = TIME_COLUMN if TIME_COLUMN in head else head[0]
            df = pd.read_csv(path, usecols=[time_col, *columns])
            times = df[time_col]
            frame = df[list(columns)]
    except KeyError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{where}: cannot read as a tidy file: {exc}") from exc
    index = utc_index(times, where, file_timezone, parquet)
    check_order(index, where, parquet)
    out = numeric(frame, where, parquet)
    out.index = index
    return out


def read_opsd(
    path: str | os.PathLike,
    columns: list[str],
    cumulative: list[str],
    file_timezone: str | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Interval energies from an OPSD singleindex file, and per row whether OPSD interpolated
    any of the requested columns (its `interpolated` column)."""
    p = check_file(path)
    st = p.stat()
    frame, flags = _read_opsd_cached(
        str(p),
        st.st_mtime_ns,
        st.st_size,
        tuple(sorted(columns)),
        tuple(sorted(cumulative)),
        file_timezone,
    )
    return frame.copy(), flags.copy()


@functools.lru_cache(maxsize=8)
def _read_opsd_cached(
    path: str,
    mtime_ns: int,
    size: int,
    columns: tuple[str, ...],
    cumulative: tuple[str, ...],
    file_timezone: str | None,
) -> tuple[pd.DataFrame, pd.Series]:
    where = f"{PATH_KEY}={path!r}"
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
    index = utc_index(df[TIME_COLUMN], where, file_timezone)
    check_order(index, where)
    values = numeric(df[list(columns)], where)
    values.index = index
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
        # OPSD joins the names of the interpolated series with " | " (household/imputation.py).
        wanted = set(columns)
        flags = text.apply(
            lambda s: bool(wanted & {n.strip() for n in s.replace(",", "|").split("|")})
        )
    else:
        flags = pd.Series(False, index=values.index)
    return values, flags.astype(bool)
