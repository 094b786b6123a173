//! The PostgreSQL backend (production): `tokio-postgres` through a `deadpool-postgres` pool.
