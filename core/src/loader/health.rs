//! Plugin health: consecutive panics and quarantine.

use parking_lot::Mutex;

/// Whether a plugin may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Runs.
    Ok,
    /// Does not run, for this reason.
    Quarantined(String),
}

#[derive(Debug, Default)]
struct Counts {
    consecutive_panics: u32,
    panics: u64,
    tasks: u64,
    quarantined: Option<String>,
}

/// Panic counters and quarantine state of one loaded plugin.
#[derive(Debug)]
pub struct Health {
    max_consecutive_panics: u32,
    counts: Mutex<Counts>,
}

impl Health {
    /// Quarantine after `max_consecutive_panics` panics in a row.
    pub fn new(max_consecutive_panics: u32) -> Self {
        Health {
            max_consecutive_panics: max_consecutive_panics.max(1),
            counts: Mutex::new(Counts::default()),
        }
    }

    fn counts(&self) -> parking_lot::MutexGuard<'_, Counts> {
        self.counts.lock()
    }

    /// A task ran to its end without a panic: the panic streak is over.
    pub fn record_ok(&self) {
        let mut c = self.counts();
        c.tasks += 1;
        c.consecutive_panics = 0;
    }

    /// A step panicked; returns true when this panic quarantined the plugin.
    pub fn record_panic(&self, message: &str) -> bool {
        let mut c = self.counts();
        c.tasks += 1;
        c.panics += 1;
        c.consecutive_panics += 1;
        if c.quarantined.is_none() && c.consecutive_panics >= self.max_consecutive_panics {
            c.quarantined = Some(format!(
                "panicked {} times in a row; last: {message}",
                c.consecutive_panics
            ));
            return true;
        }
        false
    }

    /// Quarantines now (a step over budget or hung); the first reason is kept.
    pub fn quarantine(&self, reason: String) {
        let mut c = self.counts();
        if c.quarantined.is_none() {
            c.quarantined = Some(reason);
        }
    }

    /// Lets a quarantined plugin run again.
    pub fn release(&self) {
        let mut c = self.counts();
        c.quarantined = None;
        c.consecutive_panics = 0;
    }

    /// Current status.
    pub fn status(&self) -> Status {
        match &self.counts().quarantined {
            Some(why) => Status::Quarantined(why.clone()),
            None => Status::Ok,
        }
    }

    /// True when quarantined.
    pub fn is_quarantined(&self) -> bool {
        self.counts().quarantined.is_some()
    }

    /// Panics so far.
    pub fn panics(&self) -> u64 {
        self.counts().panics
    }

    /// Calls booked so far (finished tasks and panics).
    pub fn calls(&self) -> u64 {
        self.counts().tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantines_after_consecutive_panics_only() {
        let h = Health::new(3);
        assert!(!h.record_panic("a"));
        assert!(!h.record_panic("b"));
        h.record_ok();
        assert!(!h.record_panic("c"));
        assert!(!h.record_panic("d"));
        assert!(h.record_panic("e"));
        assert_eq!(
            h.status(),
            Status::Quarantined("panicked 3 times in a row; last: e".into())
        );
        assert_eq!(h.panics(), 5);
        h.release();
        assert_eq!(h.status(), Status::Ok);
    }
}
