//! Keeps the process's resident memory close to what it uses: glibc's malloc arenas capped
//! for `efi-poller run`, and freed memory handed back to the kernel after each arbiter cycle.
//!
//! Why: the host and every plugin allocate through the same glibc malloc. By default glibc
//! gives each busy thread its own arena (up to 8 per core), and memory freed inside an arena
//! stays mapped until the arena's top is free. An arbiter cycle builds and drops a full
//! picture of the network (thousands of sessions, Sonar's records, the plan) on whichever
//! threads run it, so each cycle left a step of freed-but-resident memory behind
//! (BENCHMARKS.md, "Where the memory goes"). Fewer arenas and a trim after each cycle keep
//! the resident set at the live heap plus a margin.

/// How many malloc arenas `efi-poller run` uses unless `MALLOC_ARENA_MAX` says otherwise.
pub const DEFAULT_ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`DEFAULT_ARENAS`], unless the operator set
/// `MALLOC_ARENA_MAX` (glibc reads that itself, and it wins). Call before the runtime
/// starts its threads: arenas already made stay. A no-op off glibc.
pub fn cap_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before other threads
    // exist, and glibc serialises it against allocation anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, DEFAULT_ARENAS);
    }
}

/// Hands memory that is free inside malloc's arenas back to the kernel (glibc's
/// `malloc_trim`, which also releases free pages in the middle of each arena). Takes a few
/// milliseconds on a heap of a few hundred megabytes; run it off the async workers.
/// Returns whether anything was released. A no-op off glibc.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes each arena's lock; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_goes_back_to_the_kernel() {
        // A few thousand small blocks, the shape of a cycle's picture, then all freed but one
        // near the end, which keeps the arena's top from shrinking on its own.
        fn resident_kb() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        let mut blocks: Vec<Vec<u8>> = (0..40_000).map(|i| vec![i as u8; 1000]).collect();
        let keep = blocks.pop().unwrap();
        drop(blocks);
        let before = resident_kb();
        assert!(release_free_memory(), "malloc_trim released nothing");
        let after = resident_kb();
        assert!(
            after + 20_000 < before,
            "resident {before} kB before the trim, {after} kB after: expected ~40 MB back"
        );
        drop(keep);
    }
}
