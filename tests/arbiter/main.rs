//! The IPAM arbiter end to end: in process against the lab's Raemis, Magma and Sonar, a host
//! killed mid-apply, a large initial sync, three hosts on one PostgreSQL, and the
//! listener over HTTPS.

mod cluster;
mod crash;
mod https;
mod ipam;
mod magma;
mod scale;
