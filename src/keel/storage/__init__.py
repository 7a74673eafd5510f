"""Storage backends. `memory/` decides what to remember; `storage/` decides where.

Every store shares one schema history per backend: `migrations/<backend>/NNNN_name.sql`,
applied in order by `migrate`. A new store adds its tables as the next numbered file.
"""

from keel.storage.sqlite import SQLiteDatabase
from keel.storage.sqlite_sessions import SQLiteSessionStore

__all__ = ["SQLiteDatabase", "SQLiteSessionStore"]
