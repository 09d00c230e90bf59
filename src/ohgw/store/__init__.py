"""A study's results on disk: the crash-safe store (one SQLite file) and what a study directory
holds, read the same way by the study harness and by the analysis.

- :mod:`ohgw.store.database`: :class:`Store`, the rows, finished pairs and metadata of a study;
- :mod:`ohgw.store.sqlite_file`: its SQLite file (schema, built whole, read-only, WAL);
- :mod:`ohgw.store.rows`: the row format (key, canonical JSON, checksum) and the CSV export;
- :mod:`ohgw.store.errors`: ``StoreError`` and ``StoreConflict``, one paragraph each;
- :mod:`ohgw.store.files`: files other processes trust (written whole, locks, removal);
- :mod:`ohgw.store.study_dir`: a study directory's settings (any version) and finished runs.

Imports nothing of the study harness or the analysis, and no torch.
"""

from ohgw.store.database import FILENAME
from ohgw.store.database import Store
from ohgw.store.errors import StoreConflict
from ohgw.store.errors import StoreError
from ohgw.store.rows import MEASURED
from ohgw.store.rows import ROW_KEY
from ohgw.store.rows import write_csv
from ohgw.store.study_dir import StudyData
from ohgw.store.study_dir import load_study

__all__ = [
    "FILENAME",
    "MEASURED",
    "ROW_KEY",
    "Store",
    "StoreConflict",
    "StoreError",
    "StudyData",
    "load_study",
    "write_csv",
]
