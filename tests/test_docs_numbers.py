"""Numbers quoted in the docs come from committed measurement outputs.

README's "What it costs" table quotes ``perf/warmstart_cost.py``'s output: every number in the
table's rows must appear, as the same printed token, in ``docs/measurements/warmstart_cost.txt``,
and that file must start with the header every measurement carries (date, machine, versions,
command). Also checked: every file in docs/measurements has that header.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENTS = ROOT / "docs" / "measurements"
NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w.])")
HEADER = {"date": r"\bdate:", "machine": r"\bmachine:", "versions": r"\bversions?:|torch \d"}
HEADER["command"] = r"\bcommands?\b"


def section(markdown: str, title: str) -> str:
    """The text of the ``## title`` section of a markdown file."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, flags=re.M | re.S)
    assert found, f"README.md has no section '## {title}'"
    return found[1]


def table_rows(text: str) -> list[str]:
    """The rows of the section's table: markdown ``|`` rows (not the ``---`` rule), or the lines
    of a fenced block that hold numbers."""
    rows = [x for x in text.splitlines() if x.startswith("|") and not re.match(r"\|\s*-", x)]
    if rows:
        return rows[1:]  # past the header row
    fenced = re.search(r"```\n(.*?)```", text, flags=re.S)
    return [x for x in fenced[1].splitlines() if NUMBER.search(x)] if fenced else []


def test_readme_cost_table_numbers_are_in_the_committed_output() -> None:
    rows = table_rows(section((ROOT / "README.md").read_text(encoding="utf-8"), "What it costs"))
    assert rows, "README's 'What it costs' section has no table"
    path = MEASUREMENTS / "warmstart_cost.txt"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: README's cost table has no source")
    output = path.read_text(encoding="utf-8")
    printed = set(NUMBER.findall(output))
    missing = [(row.strip(), n) for row in rows for n in NUMBER.findall(row) if n not in printed]
    assert not missing, f"README's cost table numbers that {path.name} does not print: {missing}"


def test_every_measurement_starts_with_its_header() -> None:
    files = sorted(MEASUREMENTS.glob("*.txt"))
    assert files
    for path in files:
        head = path.read_text(encoding="utf-8").splitlines()[:12]
        for key, pattern in HEADER.items():
            assert any(re.search(pattern, line, flags=re.I) for line in head), (
                f"{path.name} does not say its {key} at the top"
            )


def test_number_matching_is_token_exact() -> None:
    assert NUMBER.findall("| K=1 | 3.68 | 1,762 |") == ["1", "3.68", "1,762"]
    assert "3.6" not in set(NUMBER.findall("x 3.68"))  # a prefix of a printed number is not it
