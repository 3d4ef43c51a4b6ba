"""Typed access to a SQLModel class's Core table, for the Core statements consent builds."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """The Table a `table=True` model maps (SQLModel does not declare `__table__` for mypy)."""
    return cast(Table, vars(model)["__table__"])
