"""What the importers (ONNX, torch) share: their op tables are merged from per-family ones."""

from __future__ import annotations

from collections.abc import Mapping


def merge_rule_tables(tables: list[tuple[str, Mapping]], framework: str) -> dict:
    """One table from the op families' tables (`(family name, table)` pairs); an op that two
    families register is a bug in the importer, reported with both family names."""
    merged: dict = {}
    owner: dict = {}
    for family, table in tables:
        for op, entry in table.items():
            if op in merged:
                raise AssertionError(f"{framework} op {op} is registered twice (by "
                                     f"{owner[op]} and again by {family})")
            merged[op] = entry
            owner[op] = family
    return merged
