//! The `efi-poller` binary.

fn main() -> std::process::ExitCode {
    efi_core::cli::main()
}
