//! The lab's simulators are faithful to what they stand for (Sonar, Raemis, Magma, GenieACS),
//! and the `efi-lab` binary works as a person uses it.

mod efi_lab_binary;
mod genieacs;
mod magma;
mod raemis;
mod sonar;
