//! The durable store's suite, every case on a SQLite file and on the local PostgreSQL.

mod suite;
