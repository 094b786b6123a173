//! The embedded SQLite backend (default): `rusqlite` (bundled), one writer connection, WAL.
