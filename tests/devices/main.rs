//! Device polling: the host's I/O engines against real peers, `run` polling a mixed fleet each
//! model its own way, and Sonar's poller role.

mod baicells_web;
mod credentials;
mod engines;
mod poller;
mod profiles;
mod real_cli;
mod sonar_poller;
