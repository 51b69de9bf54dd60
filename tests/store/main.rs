//! The durable store's suite, every case on a SQLite file and on the local PostgreSQL, and
//! its cases over TLS to a PostgreSQL the test starts.

mod suite;
mod tls;
