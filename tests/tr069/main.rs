//! TR-069 snooping end to end: CWMP sessions through the proxy to the lab's ACS, the cache, and
//! the GenieACS source.

mod snooping;
