"""Analysis of a study: the paper's metrics, paired statistics, figures and the report.

It reads a study directory's store and settings only (never the study harness)::

    from ohgw.analysis import summary_text, write_report
    print(summary_text("runs/mine"))  # what ``ohgw study`` prints at its end
    markdown, html = write_report("runs/mine")

The names are imported on first use (``ohgw.analysis.metrics`` alone needs no matplotlib).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ohgw._lazy import lazy_exports

if TYPE_CHECKING:
    from ohgw.analysis.report import write_report as write_report
    from ohgw.analysis.summary import summary_text as summary_text
    from ohgw.store.study_dir import load_study as load_study

_EXPORTS = {
    "load_study": "ohgw.store.study_dir",
    "summary_text": "ohgw.analysis.summary",
    "write_report": "ohgw.analysis.report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
