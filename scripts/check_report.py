"""Render a study's ``report.html`` in headless Chromium and check that every figure loaded.

A shell over :mod:`ohgw.analysis.report_check`, which holds the logic:

    python scripts/check_report.py STUDY_DIR [--chromium PATH]
"""

from ohgw.analysis.report_check import main

if __name__ == "__main__":
    raise SystemExit(main())
