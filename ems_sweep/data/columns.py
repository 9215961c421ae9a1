"""Which source column is which: the building config's mapping, defaulted from the building id.

A building `id` such as `DE_KN_residential4` names its columns `<id>_<device>` (OPSD naming):
devices in `shiftable` and `fixed` map to `<id>_<device>`; PV defaults to every `<id>_pv*` column
(several arrays, e.g. `_pv_roof` and `_pv_facade`, are summed), and grid import, grid export and
EV to `<id>_grid_import`, `<id>_grid_export`, `<id>_ev` when the file has them.
The price defaults to the first column whose name contains `price` (of `price_path` if set).
"""

from __future__ import annotations

from dataclasses import dataclass

from ems_sweep.config import BuildingConfig


class ColumnError(KeyError):
    """A building id or column that is not in the file; the message lists what exists."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ColumnMap:
    shiftable: dict[str, str]  # device -> column
    fixed: dict[str, str]
    pv: tuple[str, ...]  # summed
    grid_import: str | None
    grid_export: str | None
    ev: str | None
    price: str | None

    def energy_columns(self) -> list[str]:
        cols = [*self.shiftable.values(), *self.fixed.values()]
        cols += [*self.pv, *(c for c in (self.grid_import, self.grid_export, self.ev) if c)]
        return list(dict.fromkeys(cols))

    def consumption_columns(self) -> list[str]:
        """Columns whose convention is non-negative (consumption side)."""
        cols = [*self.shiftable.values(), *self.fixed.values()]
        return cols + [c for c in (self.grid_import, self.ev) if c]

    def describe(self) -> dict[str, str]:
        """Internal quantity -> source column(s), for logs, reports and `inspect`."""
        out = {f"device {d}": c for d, c in {**self.shiftable, **self.fixed}.items()}
        out["pv (summed)" if len(self.pv) > 1 else "pv"] = ", ".join(self.pv) or "(none)"
        out["grid import"] = self.grid_import or "(none)"
        out["grid export"] = self.grid_export or "(none: not metered)"
        out["ev"] = self.ev or "(none)"
        out["price"] = self.price or "(none in this file)"
        return out

    def all_columns(self) -> list[str]:
        return self.energy_columns() + ([self.price] if self.price else [])


def building_ids(columns: list[str]) -> list[str]:
    """Building ids in OPSD-style column names (`DE_KN_residential4_pv` -> `DE_KN_residential4`)."""
    ids = set()
    for c in columns:
        if "price" in c.lower():  # DE_day_ahead_price_...: a market, not a building
            continue
        parts = c.split("_")
        if len(parts) >= 4 and len(parts[0]) == 2:
            ids.add("_".join(parts[:3]))
    return sorted(ids)


def resolve_columns(bcfg: BuildingConfig, available: list[str], path: str) -> ColumnMap:
    """The ColumnMap of building `bcfg` in a file with `available` columns."""
    bid = str(bcfg.id)
    prefix = f"{bid}_"
    own = [c for c in available if c.startswith(prefix)]
    if not own:
        raise ColumnError(
            f"building.id={bid!r} has no columns in {path} (looked for '{prefix}*'); "
            f"building ids in the file: {building_ids(available) or available[:20]}"
        )
    devices = sorted(c[len(prefix) :] for c in own)

    def device(name: str, key: str) -> str:
        col = f"{prefix}{name}"
        if col not in available:
            raise ColumnError(
                f"building.{key} lists {name!r}, but {path} has no column {col!r}; "
                f"devices of {bid}: {devices}"
            )
        return col

    def optional(explicit: str | None, key: str, default: str | None) -> str | None:
        if explicit:
            if explicit not in available:
                raise ColumnError(
                    f"building.{key}={explicit!r} is not a column of {path}; columns: {available}"
                )
            return explicit
        return default if default in available else None

    if bcfg.pv_columns is not None:
        missing = [c for c in bcfg.pv_columns if c not in available]
        if missing:
            raise ColumnError(
                f"building.pv_columns lists {missing}, which {path} does not have; "
                f"PV-like columns: {[c for c in available if 'pv' in c.lower()]}"
            )
        pv = tuple(bcfg.pv_columns)
    else:
        pv = tuple(c for c in available if c.startswith(f"{prefix}pv"))
    price_default = next((c for c in available if "price" in c.lower()), None)
    return ColumnMap(
        shiftable={d: device(d, "shiftable") for d in bcfg.shiftable},
        fixed={d: device(d, "fixed") for d in bcfg.fixed},
        pv=pv,
        grid_import=optional(bcfg.import_column, "import_column", f"{prefix}grid_import"),
        grid_export=optional(bcfg.export_column, "export_column", f"{prefix}grid_export"),
        ev=optional(bcfg.ev_column, "ev_column", f"{prefix}ev"),
        price=None
        if bcfg.price_path
        else optional(bcfg.price_column, "price_column", price_default),
    )


def price_column(bcfg: BuildingConfig, available: list[str], path: str) -> str:
    """The price column of the separate price file `building.price_path`."""
    if bcfg.price_column:
        if bcfg.price_column not in available:
            raise ColumnError(
                f"building.price_column={bcfg.price_column!r} is not a column of {path}; "
                f"columns: {available}"
            )
        return str(bcfg.price_column)
    found = [c for c in available if "price" in c.lower()]
    if not found:
        raise ColumnError(
            f"building.price_path={path!r} has no column with 'price' in its name; columns: "
            f"{available} (name it with building.price_column)"
        )
    return found[0]
