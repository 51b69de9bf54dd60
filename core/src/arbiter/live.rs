//! The arbiter's picture of the EPC between pulls: each source's last full pull, brought up
//! to date by its pushed events. Events are idempotent (a duplicate changes nothing) and
//! ordered by their own timestamps (an event older than the newest one seen for that UE, or
//! than the last pull, is stale and ignored), so duplicates and out-of-order delivery are
//! harmless; a lost event is healed by the next full pull.

use efi_plugin_api::source::{Session, SessionEvent, SessionEventKind};
use std::collections::{BTreeMap, HashMap};

/// What happened to one pushed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// It changed the picture.
    Applied,
    /// It changed nothing (a duplicate, or a detach of something already gone).
    Unchanged,
    /// It is older than what is known; ignored.
    Stale,
}

#[derive(Default)]
struct SourceState {
    /// Sessions by (IMSI or address, APN).
    sessions: BTreeMap<(String, String), Session>,
    /// What the last pull knew of each IMSI (identity, name), to complete pushed events that
    /// carry only the IMSI.
    known: HashMap<String, Session>,
    /// Newest event time per IMSI, microseconds.
    last_event_us: HashMap<String, i64>,
    /// Time of the last pull, microseconds.
    pulled_at_us: i64,
    complete: bool,
    /// A pushed attach named a UE the last pull did not know (no IMEI or name yet).
    unknown_ue: bool,
}

fn key(s: &Session) -> (String, String) {
    let who = s
        .identity
        .imsi
        .clone()
        .or_else(|| s.ip.map(|ip| ip.to_string()))
        .unwrap_or_default();
    (who, s.apn.clone().unwrap_or_default())
}

/// All sources' sessions.
#[derive(Default)]
pub struct LiveState {
    sources: BTreeMap<String, SourceState>,
}

impl LiveState {
    /// Replaces a source's picture with a full pull made at `now_us`.
    pub fn replace(&mut self, source: &str, sessions: Vec<Session>, complete: bool, now_us: i64) {
        let st = self.sources.entry(source.to_owned()).or_default();
        st.sessions.clear();
        for s in sessions {
            if let Some(imsi) = &s.identity.imsi {
                st.known.insert(imsi.clone(), s.clone());
            }
            st.sessions.insert(key(&s), s);
        }
        st.complete = complete;
        st.pulled_at_us = now_us;
        st.unknown_ue = false;
    }

    /// True when a pushed event named a UE the pictures do not know: only a pull can tell
    /// its IMEI and subscriber name.
    pub fn needs_pull(&self) -> bool {
        self.sources.values().any(|s| s.unknown_ue)
    }

    /// Marks a source's pull as failed: its last picture stays, but is no longer complete.
    pub fn pull_failed(&mut self, source: &str) {
        self.sources.entry(source.to_owned()).or_default().complete = false;
    }

    /// Applies one pushed event.
    pub fn apply(&mut self, source: &str, event: &SessionEvent) -> EventOutcome {
        let st = self.sources.entry(source.to_owned()).or_default();
        let at = event
            .at_unix_us
            .or(event.at_unix_s.map(|s| s.saturating_mul(1_000_000)));
        let imsi = event.session.identity.imsi.clone().unwrap_or_default();
        if let Some(at) = at {
            if at < st.pulled_at_us || st.last_event_us.get(&imsi).is_some_and(|last| at < *last) {
                return EventOutcome::Stale;
            }
            st.last_event_us.insert(imsi.clone(), at);
        }
        match event.kind {
            SessionEventKind::Detach => {
                let before = st.sessions.len();
                st.sessions.retain(|(who, _), s| {
                    !(who == &imsi && (event.session.ip.is_none() || s.ip == event.session.ip))
                });
                if st.sessions.len() == before {
                    EventOutcome::Unchanged
                } else {
                    EventOutcome::Applied
                }
            }
            _ => {
                let mut session = match st.known.get(&imsi) {
                    Some(known) => known.clone(),
                    None => {
                        st.unknown_ue = true;
                        Session::default()
                    }
                };
                session.identity.imsi = Some(imsi);
                session.ip = event.session.ip;
                session.apn = event.session.apn.clone().or(session.apn);
                session.connected = true;
                session.since_unix_s = event.at_unix_s.or(session.since_unix_s);
                let k = key(&session);
                if st.sessions.get(&k).is_some_and(|s| s.ip == session.ip) {
                    return EventOutcome::Unchanged;
                }
                st.sessions.insert(k, session);
                EventOutcome::Applied
            }
        }
    }

    /// Each source's name and its sessions.
    pub fn by_source(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &Session>)> {
        self.sources
            .iter()
            .map(|(name, s)| (name.as_str(), s.sessions.values()))
    }

    /// Every source's sessions, and whether every source's picture is complete.
    pub fn sessions(&self) -> (Vec<Session>, bool) {
        (
            self.sources
                .values()
                .flat_map(|s| s.sessions.values().cloned())
                .collect(),
            self.complete(),
        )
    }

    /// How many sessions the picture holds, and whether it is complete: what `/metrics`
    /// shows, without copying every session for each scrape.
    pub fn count(&self) -> (usize, bool) {
        (
            self.sources.values().map(|s| s.sessions.len()).sum(),
            self.complete(),
        )
    }

    fn complete(&self) -> bool {
        !self.sources.is_empty() && self.sources.values().all(|s| s.complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use efi_plugin_api::Identity;

    fn ev(kind: SessionEventKind, imsi: &str, ip: Option<&str>, at: i64) -> SessionEvent {
        SessionEvent {
            kind,
            session: Session {
                identity: Identity {
                    imsi: Some(imsi.into()),
                    ..Identity::default()
                },
                ip: ip.map(|i| i.parse().unwrap()),
                apn: Some("internet".into()),
                ..Session::default()
            },
            at_unix_s: Some(at / 1_000_000),
            at_unix_us: Some(at),
        }
    }

    #[test]
    fn duplicates_and_reordering_end_in_the_right_state() {
        let mut live = LiveState::default();
        let pulled = Session {
            identity: Identity {
                imsi: Some("1".into()),
                imei: Some("350000000000001".into()),
                ..Identity::default()
            },
            subscriber_name: Some("Jane Doe".into()),
            ip: Some("10.45.0.1".parse().unwrap()),
            apn: Some("internet".into()),
            ..Session::default()
        };
        live.replace("r", vec![pulled], true, 100);
        // A move to a new address, delivered twice.
        assert_eq!(
            live.apply(
                "r",
                &ev(SessionEventKind::Attach, "1", Some("10.45.0.9"), 200)
            ),
            EventOutcome::Applied
        );
        assert_eq!(
            live.apply(
                "r",
                &ev(SessionEventKind::Attach, "1", Some("10.45.0.9"), 200)
            ),
            EventOutcome::Unchanged
        );
        let (s, complete) = live.sessions();
        assert!(complete);
        assert_eq!(s.len(), 1);
        assert_eq!(live.count(), (1, true));
        assert_eq!(s[0].ip, Some("10.45.0.9".parse().unwrap()));
        assert_eq!(
            s[0].identity.imei.as_deref(),
            Some("350000000000001"),
            "identity from the pull"
        );
        assert_eq!(s[0].subscriber_name.as_deref(), Some("Jane Doe"));

        // Detach at 400 arrives before the attach at 300: the UE ends detached.
        assert_eq!(
            live.apply("r", &ev(SessionEventKind::Detach, "1", None, 400)),
            EventOutcome::Applied
        );
        assert_eq!(
            live.apply(
                "r",
                &ev(SessionEventKind::Attach, "1", Some("10.45.0.7"), 300)
            ),
            EventOutcome::Stale
        );
        assert!(live.sessions().0.is_empty());

        // An event older than the last pull is stale.
        live.replace("r", vec![], true, 1_000);
        assert_eq!(
            live.apply(
                "r",
                &ev(SessionEventKind::Attach, "2", Some("10.45.0.2"), 900)
            ),
            EventOutcome::Stale
        );
        live.pull_failed("r");
        assert!(!live.sessions().1);
    }
}
