//! The IPAM arbiter end to end: in process against the lab's Raemis, Magma and Sonar, a host
//! killed mid-apply, a large initial sync, and three hosts on one PostgreSQL.

mod cluster;
mod crash;
mod ipam;
mod magma;
mod scale;
