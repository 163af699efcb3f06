"""The documented measurement columns are the ones the validator enforces."""

from __future__ import annotations

from pathlib import Path

from tpf.schema import MEASUREMENT_COLUMNS, POINT_COLUMNS, columns_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "fitting-energy.md"


def test_doc_tables_match_the_catalogs():
    text = DOC.read_text()
    assert columns_markdown(MEASUREMENT_COLUMNS) in text
    assert columns_markdown(POINT_COLUMNS) in text
