//! TR-069 snooping: the CWMP proxy between CPEs and their ACS, the messages it reads and
//! the cache drivers ask (`IoRequest::Tr069`) and identification reads (the DeviceId).

pub mod cache;
pub mod cwmp;
pub mod framing;
pub mod persist;
pub mod proxy;

pub use cache::Tr069Cache;
