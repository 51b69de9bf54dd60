//! What a plan tells an operator (a CPE not linked, a name two accounts share, an address
//! held by a hard assignment...), each with its kind, and how the log reports them: a
//! condition that repeats every cycle is logged when it starts and when it ends, with one
//! summary line per cycle, never once per CPE per cycle. Every warning of the latest plan is
//! always listed at `/api/v1/plan` and on the dashboard.

use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// The kinds of plan warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// One address reported for two UEs.
    DuplicateAddress,
    /// A session without IMEI, MAC, serial or IMSI.
    NoIdentifier,
    /// An address held by a hard (non-soft) assignment.
    HardAssignment,
    /// No account has the subscriber's name.
    NotLinked,
    /// Several accounts have the subscriber's name.
    AmbiguousName,
    /// The account has no address to deploy the CPE at.
    NoAccountAddress,
    /// A source answered in part: stale assignments kept.
    IncompleteSource,
    /// No source reports any session: nothing deleted.
    NoSessions,
    /// Every session is outside the managed subnets.
    OutsideManaged,
}

impl WarningKind {
    /// What `n` warnings of this kind mean, for the per-cycle summary.
    fn summary(self, n: usize) -> String {
        let s = if n == 1 { "" } else { "s" };
        match self {
            WarningKind::DuplicateAddress => format!(
                "{n} address{} reported for two UEs",
                if n == 1 { "" } else { "es" }
            ),
            WarningKind::NoIdentifier => format!("{n} session{s} without any identifier"),
            WarningKind::HardAssignment => format!(
                "{n} address{} held by hard assignments",
                if n == 1 { "" } else { "es" }
            ),
            WarningKind::NotLinked => format!("{n} CPE{s} not linked: no account with that name"),
            WarningKind::AmbiguousName => {
                format!("{n} CPE{s} not linked: several accounts with that name")
            }
            WarningKind::NoAccountAddress => {
                format!("{n} CPE{s} not linked: the account has no address")
            }
            WarningKind::IncompleteSource => "a source answered in part".into(),
            WarningKind::NoSessions => "no source reports any session".into(),
            WarningKind::OutsideManaged => "every session is outside the managed subnets".into(),
        }
    }
}

/// One thing an operator should know about a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Warning {
    /// What kind of condition it is.
    pub kind: WarningKind,
    /// The sentence, naming the address and what was found.
    pub message: String,
}

impl Warning {
    /// A warning of `kind`.
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Most warnings of one kind logged one by one in a cycle (when they start or end); the
/// rest are counted in one line.
const LINES_PER_KIND: usize = 5;

/// The log lines for one cycle's warnings, given what the previous cycle warned about.
#[derive(Debug, Default)]
pub struct Conditions {
    current: HashSet<Warning>,
}

/// What to log for one cycle.
#[derive(Debug, Default, PartialEq)]
pub struct CycleLines {
    /// Warnings that started (warn level).
    pub started: Vec<String>,
    /// Warnings that ended (info level).
    pub ended: Vec<String>,
    /// One line summing up every warning of the plan, when there is any.
    pub summary: Option<String>,
}

impl Conditions {
    /// The lines for a cycle whose plan warned `warnings`; remembers them for the next.
    pub fn cycle(&mut self, warnings: &[Warning]) -> CycleLines {
        let now: HashSet<Warning> = warnings.iter().cloned().collect();
        let started = lines(
            warnings.iter().filter(|w| !self.current.contains(*w)),
            "more",
        );
        let mut gone: Vec<&Warning> = self.current.iter().filter(|w| !now.contains(*w)).collect();
        gone.sort_by(|a, b| (a.kind, &a.message).cmp(&(b.kind, &b.message)));
        let ended = lines(gone.into_iter(), "more ended")
            .into_iter()
            .map(|l| format!("resolved: {l}"))
            .collect();
        let mut by_kind: BTreeMap<WarningKind, usize> = BTreeMap::new();
        for w in &now {
            *by_kind.entry(w.kind).or_default() += 1;
        }
        let summary = (!by_kind.is_empty()).then(|| {
            let parts: Vec<String> = by_kind.iter().map(|(k, n)| k.summary(*n)).collect();
            format!(
                "plan warnings: {}; all listed at /api/v1/plan and on the dashboard",
                parts.join("; ")
            )
        });
        self.current = now;
        CycleLines {
            started,
            ended,
            summary,
        }
    }
}

/// Up to [`LINES_PER_KIND`] messages of each kind, then `... and N more` per kind.
fn lines<'w>(warnings: impl Iterator<Item = &'w Warning>, more: &str) -> Vec<String> {
    let mut shown: BTreeMap<WarningKind, (usize, Vec<String>)> = BTreeMap::new();
    for w in warnings {
        let (n, list) = shown.entry(w.kind).or_default();
        *n += 1;
        if list.len() < LINES_PER_KIND {
            list.push(w.message.clone());
        }
    }
    let mut out = Vec::new();
    for (kind, (n, list)) in shown {
        let hidden = n - list.len();
        out.extend(list);
        if hidden > 0 {
            out.push(format!("... and {hidden} {more} of: {}", kind.summary(n)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlinked(n: usize) -> Vec<Warning> {
        (0..n)
            .map(|i| {
                Warning::new(
                    WarningKind::NotLinked,
                    format!(
                        "10.45.{}.{}: no account is named \"x{i}\"",
                        i / 250,
                        i % 250
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn a_repeating_condition_is_logged_when_it_starts_and_ends_and_summed_up_each_cycle() {
        let mut c = Conditions::default();
        let many = unlinked(10_000);
        let first = c.cycle(&many);
        assert_eq!(
            first.started.len(),
            LINES_PER_KIND + 1,
            "{:?}",
            first.started
        );
        assert!(first
            .started
            .last()
            .unwrap()
            .contains("and 9995 more of: 10000 CPEs not linked"));
        assert_eq!(
            first.summary.as_deref(),
            Some("plan warnings: 10000 CPEs not linked: no account with that name; all listed at /api/v1/plan and on the dashboard")
        );
        // The same again: only the summary.
        let again = c.cycle(&many);
        assert!(
            again.started.is_empty() && again.ended.is_empty(),
            "{again:?}"
        );
        assert!(again.summary.is_some());
        // Two resolved, one new of another kind.
        let mut next = many[2..].to_vec();
        next.push(Warning::new(
            WarningKind::AmbiguousName,
            "10.45.99.1: 2 accounts are named \"y\"",
        ));
        let lines = c.cycle(&next);
        assert_eq!(lines.started, ["10.45.99.1: 2 accounts are named \"y\""]);
        assert_eq!(lines.ended.len(), 2);
        assert!(
            lines.ended[0].starts_with("resolved: 10.45.0.0: no account"),
            "{:?}",
            lines.ended
        );
        assert!(lines.summary.unwrap().contains(
            "9998 CPEs not linked: no account with that name; 1 CPE not linked: several accounts"
        ));
        // All gone: the end is logged, no summary.
        let done = c.cycle(&[]);
        // Five of the 9,998 and a count, and the ambiguous one.
        assert_eq!(done.ended.len(), LINES_PER_KIND + 2, "{:?}", done.ended);
        assert_eq!(done.summary, None);
    }
}
