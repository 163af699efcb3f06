"""Reports of a run: report.md, summary.json, plan.csv and figures (matplotlib, Agg)."""

from tpf.report.record import CardInfo, RunRecord
from tpf.report.writer import write_run

__all__ = ["CardInfo", "RunRecord", "write_run"]
