"""Fixtures of the report tests: the figures a drawing function made, kept for inspection."""

from __future__ import annotations

import pytest

from tpf.report import figures, sim_figures


@pytest.fixture
def drawn(monkeypatch) -> list:
    """Every matplotlib Figure the report's drawing functions save, in order (also written)."""
    kept: list = []
    save = figures._save

    def keep(figure, path):
        kept.append(figure)
        return save(figure, path)

    monkeypatch.setattr(figures, "_save", keep)
    monkeypatch.setattr(sim_figures, "_save", keep)
    return kept


def texts(figure) -> list[str]:
    """Every title, axis label, suptitle and legend text of a figure (insets included)."""
    out = [figure._suptitle.get_text()] if figure._suptitle is not None else []
    for axes in figure.axes + [inset for a in figure.axes for inset in a.child_axes]:
        out += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
        legend = axes.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    for legend in figure.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return out
