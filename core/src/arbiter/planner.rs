//! The planner: desired state (the EPC's sessions) + the sink's snapshot → the changes that
//! make the sink true, in an order that never conflicts (an address is released before it
//! is taken), with the guards that keep a bad source answer from emptying the sink.

use super::identity::{keys_of, ItemIndex};
use super::names::normalise;
use super::warnings::{Warning, WarningKind as Kind};
use crate::config::ArbiterConfig;
use efi_plugin_api::sink::{
    Account, Assignment, Change, ChangeAction, ChangeSet, InventoryItem, ItemRef, SinkSnapshot,
};
use efi_plugin_api::source::Session;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

impl Plan {
    /// One line per change, for a person.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for c in &self.changes.changes {
            let line = match &c.action {
                ChangeAction::DeleteAssignment { assignment_id, ip } => {
                    format!("delete assignment {assignment_id} of {ip}")
                }
                ChangeAction::CreateItem { model, fields } => format!(
                    "create inventory item{} with {}",
                    model
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default(),
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                ChangeAction::UpdateItemFields { item, fields, .. } => format!(
                    "update {item:?}: {}",
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                ChangeAction::CreateAssignment { ip, item } => {
                    format!("assign {ip} (soft) to {item:?}")
                }
                ChangeAction::AssignItem {
                    item,
                    address_id,
                    account_id,
                } => {
                    format!("deploy {item:?} at address {address_id} of account {account_id}")
                }
                other => format!("{other:?}"),
            };
            out.push_str(&format!("  {line}\n"));
        }
        out
    }

    /// Its counts in one line: `N sessions: K kept, ...`.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        let outside = match s.outside_managed {
            0 => String::new(),
            n => format!(" (and {n} outside the managed subnets, left alone)"),
        };
        format!(
            "{} sessions{outside}: {} kept, {} to assign, {} to delete ({} taken from another CPE), {} new items, {} field updates, {} account links",
            s.sessions, s.kept, s.assignments_created, s.assignments_deleted, s.moves, s.items_created, s.items_updated, s.items_linked
        )
    }
}

/// Counts of what a plan does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanStats {
    /// Sessions considered (inside the managed subnets).
    pub sessions: usize,
    /// Sessions whose address is outside the managed subnets (never considered).
    pub outside_managed: usize,
    /// Correct assignments left as they are.
    pub kept: usize,
    /// Assignments created.
    pub assignments_created: usize,
    /// Assignments deleted (moves included).
    pub assignments_deleted: usize,
    /// Addresses that moved from one CPE to another.
    pub moves: usize,
    /// Inventory items created for unknown CPEs.
    pub items_created: usize,
    /// Items whose identifier fields are updated.
    pub items_updated: usize,
    /// Items deployed at an account's address.
    pub items_linked: usize,
}

/// What the planner decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// The changes, in apply order.
    pub changes: ChangeSet,
    /// Why the plan must not be applied, when a guard stopped it.
    pub held: Option<String>,
    /// Things an operator should know (name not found, conflicts, ...).
    pub warnings: Vec<Warning>,
    /// Counts.
    pub stats: PlanStats,
    /// Sessions per source (filled in by the arbiter, which knows the sources).
    pub sources: Vec<SourceSessions>,
    /// The changes in an operator's words, one line per address or item
    /// ([`super::narrate`]).
    pub narrative: Vec<String>,
}

/// What one source reported for a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceSessions {
    /// The source's name (`[[sources]] name`).
    pub source: String,
    /// Sessions it reports with an address.
    pub sessions: usize,
    /// How many of those are outside the managed subnets.
    pub outside_managed: usize,
}

/// Inputs besides the two states.
pub struct Rules<'a> {
    /// Managed subnets.
    pub managed: &'a [IpNet],
    /// The arbiter config (guards, name prefixes).
    pub config: &'a ArbiterConfig,
    /// True when every source answered: absence then means "detached". When false, nothing
    /// is deleted.
    pub complete: bool,
    /// The plan's ID.
    pub plan_id: String,
}

fn item_key(r: &ItemRef) -> String {
    match r {
        ItemRef::Existing(id) => format!("item:{id}"),
        ItemRef::Created(c) => c.clone(),
    }
}

/// Plans the changes that make the sink follow the sessions, in phases: the desired
/// addresses; per address the CPE's item (found, or created with its identifiers; fields it
/// lacks updated), its assignment (kept, moved or created) and its account link; then the
/// soft assignments no session wants, under the guards; last the mass-delete hold and the
/// order that never conflicts.
pub fn plan(sessions: &[Session], snapshot: &SinkSnapshot, rules: &Rules<'_>) -> Plan {
    let mut draft = Draft::default();
    let desired = desired_sessions(sessions, rules, &mut draft.warnings);
    draft.stats.sessions = desired.len();
    let outside: Vec<IpAddr> = sessions
        .iter()
        .filter_map(|s| s.ip)
        .filter(|ip| !managed(rules, *ip))
        .collect();
    draft.stats.outside_managed = outside.len();
    if desired.is_empty() && !outside.is_empty() {
        let examples: Vec<String> = outside.iter().take(3).map(|ip| ip.to_string()).collect();
        draft.warnings.push(Warning::new(
            Kind::OutsideManaged,
            format!(
                "every session with an address ({}) is outside the managed subnets [{}], e.g. {}: nothing is managed (nor polled, unless [poller] subnets says otherwise); check [arbiter] managed_subnets",
                outside.len(),
                rules.managed.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
                examples.join(", ")
            ),
        ));
    }
    let sink = SinkView::new(snapshot, rules);
    for (ip, session) in &desired {
        let Some(item) = draft.item_for(*ip, session, &sink) else {
            continue;
        };
        draft.assignment(*ip, &item, &sink);
        if let Some(name) = &session.subscriber_name {
            draft.account_link(*ip, name, &item, &sink, rules);
        }
    }
    draft.release_stale(snapshot, &desired, rules);
    draft.into_plan(snapshot, rules)
}

/// True when `ip` is in one of the managed subnets.
fn managed(rules: &Rules<'_>, ip: IpAddr) -> bool {
    rules.managed.iter().any(|n| n.contains(&ip))
}

/// The desired state: address → session, in the managed subnets only; an address reported
/// for two UEs keeps the more recent session.
fn desired_sessions<'s>(
    sessions: &'s [Session],
    rules: &Rules<'_>,
    warnings: &mut Vec<Warning>,
) -> BTreeMap<IpAddr, &'s Session> {
    let mut desired: BTreeMap<IpAddr, &Session> = BTreeMap::new();
    for s in sessions {
        let Some(ip) = s.ip.filter(|ip| managed(rules, *ip)) else {
            continue;
        };
        match desired.get(&ip) {
            Some(other) if other.since_unix_s >= s.since_unix_s => {
                warnings.push(Warning::new(
                    Kind::DuplicateAddress,
                    format!(
                        "{ip} is reported for two UEs ({:?} and {:?}); keeping the more recent",
                        other.identity.imsi, s.identity.imsi
                    ),
                ));
            }
            _ => {
                desired.insert(ip, s);
            }
        }
    }
    desired
}

/// The sink's snapshot, indexed for the planner's lookups.
struct SinkView<'a> {
    index: ItemIndex<'a>,
    items_by_id: HashMap<&'a str, &'a InventoryItem>,
    assignments: HashMap<IpAddr, &'a Assignment>,
    /// Active (not archived) accounts by normalised name.
    accounts: HashMap<String, Vec<&'a Account>>,
}

impl<'a> SinkView<'a> {
    fn new(snapshot: &'a SinkSnapshot, rules: &Rules<'_>) -> SinkView<'a> {
        let mut accounts: HashMap<String, Vec<&Account>> = HashMap::new();
        for a in snapshot.accounts.iter().filter(|a| !a.archived) {
            if let Some(n) = normalise(&a.name, &rules.config.name_prefixes) {
                accounts.entry(n).or_default().push(a);
            }
        }
        SinkView {
            index: ItemIndex::new(&snapshot.items),
            items_by_id: snapshot.items.iter().map(|i| (i.id.as_str(), i)).collect(),
            assignments: snapshot.assignments.iter().map(|a| (a.ip, a)).collect(),
            accounts,
        }
    }
}

/// The plan as it is built: changes by kind (applied in the order of the fields), and what
/// the phases noticed.
#[derive(Default)]
struct Draft {
    deletes: Vec<Change>,
    new_items: BTreeMap<String, Change>,
    updates: Vec<Change>,
    creates: Vec<Change>,
    links: Vec<Change>,
    /// Field updates and links already planned (one per item, however many sessions).
    planned: HashSet<String>,
    warnings: Vec<Warning>,
    stats: PlanStats,
}

impl Draft {
    /// The item of the CPE behind `session`: the existing one its identifiers find (with the
    /// identifier fields it lacks or has wrong updated, never cleared), or one to create
    /// with them. `None` when the session carries no identifier at all.
    fn item_for(&mut self, ip: IpAddr, session: &Session, sink: &SinkView<'_>) -> Option<ItemRef> {
        let keys = keys_of(&session.identity);
        if let Some(found) = sink.index.find(&keys) {
            let item = ItemRef::Existing(found.id.clone());
            self.update_fields(&item, found.id.as_str(), &keys, sink);
            return Some(item);
        }
        let Some((k, v)) = keys.first() else {
            self.warnings.push(Warning::new(
                Kind::NoIdentifier,
                format!(
                    "{ip}: the session carries no identifier (IMEI, MAC, serial or IMSI); skipped"
                ),
            ));
            return None;
        };
        let cid = format!("new-item:{k}:{v}");
        self.new_items.entry(cid.clone()).or_insert_with(|| Change {
            id: cid.clone(),
            action: ChangeAction::CreateItem {
                model: None,
                fields: keys
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            },
        });
        Some(ItemRef::Created(cid))
    }

    fn update_fields(
        &mut self,
        item: &ItemRef,
        id: &str,
        keys: &[(&'static str, String)],
        sink: &SinkView<'_>,
    ) {
        let Some(current) = sink.items_by_id.get(id) else {
            return;
        };
        let changed: BTreeMap<String, String> = keys
            .iter()
            .filter(|(k, v)| {
                current
                    .fields
                    .get(*k)
                    .and_then(|c| super::identity::canonical(k, c))
                    .as_ref()
                    != Some(v)
            })
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if !changed.is_empty() && self.planned.insert(format!("fields:{id}")) {
            self.updates.push(Change {
                id: format!("fields:{id}"),
                action: ChangeAction::UpdateItemFields {
                    item: item.clone(),
                    model: current.model.clone(),
                    fields: changed,
                },
            });
        }
    }

    /// The soft assignment of `ip` to `item`: kept when it is already there, released and
    /// taken again when another holds it, created when nothing does; a hard assignment is
    /// left alone.
    fn assignment(&mut self, ip: IpAddr, item: &ItemRef, sink: &SinkView<'_>) {
        let create = Change {
            id: format!("assign:{ip}:{}", item_key(item)),
            action: ChangeAction::CreateAssignment {
                ip,
                item: item.clone(),
            },
        };
        match sink.assignments.get(&ip) {
            Some(a)
                if a.soft
                    && matches!(item, ItemRef::Existing(id) if a.item_id.as_deref() == Some(id.as_str())) =>
            {
                self.stats.kept += 1;
            }
            Some(a) if !a.soft => {
                self.warnings.push(Warning::new(
                    Kind::HardAssignment,
                    format!(
                        "{ip} is held by a hard assignment ({} {}); left alone",
                        a.holder_kind, a.holder_id
                    ),
                ));
            }
            Some(a) => {
                self.deletes.push(Change {
                    id: format!("delete:{}", a.id),
                    action: ChangeAction::DeleteAssignment {
                        assignment_id: a.id.clone(),
                        ip,
                    },
                });
                self.stats.moves += 1;
                self.creates.push(create);
            }
            None => self.creates.push(create),
        }
    }

    /// Deploys the CPE at the address of the one active account whose normalised name is
    /// the subscriber's; no match or several are reported, never guessed.
    fn account_link(
        &mut self,
        ip: IpAddr,
        raw: &str,
        item: &ItemRef,
        sink: &SinkView<'_>,
        rules: &Rules<'_>,
    ) {
        let Some(name) = normalise(raw, &rules.config.name_prefixes) else {
            return;
        };
        let account = match sink.accounts.get(&name).map(Vec::as_slice) {
            None | Some([]) => {
                self.warnings.push(Warning::new(
                    Kind::NotLinked,
                    format!("{ip}: no account is named {raw:?}; the CPE is not linked"),
                ));
                return;
            }
            Some([account]) => *account,
            Some(several) => {
                self.warnings.push(Warning::new(
                    Kind::AmbiguousName,
                    format!(
                        "{ip}: {} accounts are named {raw:?} ({}); not guessing",
                        several.len(),
                        several
                            .iter()
                            .map(|a| a.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                return;
            }
        };
        let current = match item {
            ItemRef::Existing(id) => sink
                .items_by_id
                .get(id.as_str())
                .and_then(|i| i.address_id.clone()),
            ItemRef::Created(_) => None,
        };
        let already = current
            .as_ref()
            .is_some_and(|c| account.address_ids.contains(c));
        match account.address_ids.first() {
            None => self.warnings.push(Warning::new(
                Kind::NoAccountAddress,
                format!(
                    "{ip}: account {:?} has no address to deploy the CPE at",
                    account.name
                ),
            )),
            Some(address) if !already => {
                let id = format!("link:{}:{address}", item_key(item));
                if self.planned.insert(id.clone()) {
                    self.links.push(Change {
                        id,
                        action: ChangeAction::AssignItem {
                            item: item.clone(),
                            address_id: address.clone(),
                            account_id: account.id.clone(),
                        },
                    });
                }
            }
            Some(_) => {}
        }
    }

    /// Deletes the soft assignments in the managed subnets that no session wants any more,
    /// unless a source answered in part or no source reports any session at all.
    fn release_stale(
        &mut self,
        snapshot: &SinkSnapshot,
        desired: &BTreeMap<IpAddr, &Session>,
        rules: &Rules<'_>,
    ) {
        let stale: Vec<Change> = snapshot
            .assignments
            .iter()
            .filter(|a| a.soft && managed(rules, a.ip) && !desired.contains_key(&a.ip))
            .map(|a| Change {
                id: format!("delete:{}", a.id),
                action: ChangeAction::DeleteAssignment {
                    assignment_id: a.id.clone(),
                    ip: a.ip,
                },
            })
            .collect();
        if stale.is_empty() {
            return;
        }
        if !rules.complete {
            self.warnings.push(Warning::new(Kind::IncompleteSource, format!(
                "a source did not answer completely: {} stale assignment(s) kept until a complete answer",
                stale.len()
            )));
        } else if desired.is_empty() {
            self.warnings.push(Warning::new(Kind::NoSessions, format!(
                "the sources report no session at all: deleting nothing ({} soft assignment(s) kept)",
                stale.len()
            )));
        } else {
            self.deletes.extend(stale);
        }
    }

    /// The plan: held when it would delete more than `max_delete_share` of the managed soft
    /// assignments; changes ordered deletes, new items, field updates, assignments, links.
    fn into_plan(mut self, snapshot: &SinkSnapshot, rules: &Rules<'_>) -> Plan {
        let managed_soft = snapshot
            .assignments
            .iter()
            .filter(|a| a.soft && managed(rules, a.ip))
            .count();
        let share = if managed_soft == 0 {
            0.0
        } else {
            self.deletes.len() as f64 / managed_soft as f64
        };
        let held = (self.deletes.len() >= rules.config.min_deletes_guarded
            && share > rules.config.max_delete_share)
            .then(|| {
                format!(
                    "the plan deletes {} of {} managed assignments ({:.0}%), more than arbiter.max_delete_share ({:.0}%)",
                    self.deletes.len(),
                    managed_soft,
                    share * 100.0,
                    rules.config.max_delete_share * 100.0
                )
            });
        self.stats.assignments_deleted = self.deletes.len();
        self.stats.assignments_created = self.creates.len();
        self.stats.items_created = self.new_items.len();
        self.stats.items_updated = self.updates.len();
        self.stats.items_linked = self.links.len();
        let mut changes = self.deletes;
        changes.extend(self.new_items.into_values());
        changes.extend(self.updates);
        changes.extend(self.creates);
        changes.extend(self.links);
        Plan {
            narrative: super::narrate::describe(&changes, snapshot),
            changes: ChangeSet {
                plan_id: rules.plan_id.clone(),
                changes,
            },
            held,
            warnings: self.warnings,
            stats: self.stats,
            sources: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use efi_plugin_api::sink::{Account, InventoryItem};
    use efi_plugin_api::Identity;

    fn cfg() -> ArbiterConfig {
        ArbiterConfig {
            managed_subnets: vec!["10.45.0.0/16".into()],
            min_deletes_guarded: 3,
            ..ArbiterConfig::default()
        }
    }

    fn session(imei: &str, ip: &str, name: &str) -> Session {
        Session {
            identity: Identity {
                imei: Some(imei.into()),
                imsi: Some(format!("00101{}", &imei[5..])),
                ..Identity::default()
            },
            ip: Some(ip.parse().unwrap()),
            subscriber_name: Some(name.into()),
            connected: true,
            ..Session::default()
        }
    }

    fn item(id: &str, imei: &str, address: Option<&str>) -> InventoryItem {
        InventoryItem {
            id: id.into(),
            model: Some("RidgeWave 6900".into()),
            fields: BTreeMap::from([
                ("imei".into(), imei.into()),
                ("imsi".into(), format!("00101{}", &imei[5..])),
            ]),
            address_id: address.map(str::to_owned),
        }
    }

    fn soft(id: &str, ip: &str, item: &str) -> Assignment {
        Assignment {
            id: id.into(),
            ip: ip.parse().unwrap(),
            soft: true,
            holder_kind: "InventoryItem".into(),
            holder_id: item.into(),
            item_id: Some(item.into()),
        }
    }

    fn run(sessions: &[Session], snap: &SinkSnapshot, complete: bool) -> Plan {
        let config = cfg();
        let managed = vec![crate::config::parse_subnet("10.45.0.0/16").unwrap()];
        plan(
            sessions,
            snap,
            &Rules {
                managed: &managed,
                config: &config,
                complete,
                plan_id: "p".into(),
            },
        )
    }

    fn kinds(p: &Plan) -> Vec<String> {
        p.changes.changes.iter().map(|c| c.id.clone()).collect()
    }

    #[test]
    fn a_correct_assignment_is_kept_untouched() {
        let snap = SinkSnapshot {
            items: vec![item("1", "350000000000001", Some("a1"))],
            assignments: vec![soft("9", "10.45.0.1", "1")],
            accounts: vec![Account {
                id: "100".into(),
                name: "Jane Doe".into(),
                address_ids: vec!["a1".into()],
                archived: false,
            }],
        };
        let p = run(
            &[session("350000000000001", "10.45.0.1", "Jane Doe")],
            &snap,
            true,
        );
        assert!(p.changes.changes.is_empty(), "{:?}", p.changes);
        assert_eq!(p.stats.kept, 1);
    }

    #[test]
    fn a_moved_address_is_released_before_it_is_taken() {
        let snap = SinkSnapshot {
            items: vec![
                item("1", "350000000000001", None),
                item("2", "350000000000002", None),
            ],
            assignments: vec![soft("9", "10.45.0.1", "1")],
            accounts: vec![],
        };
        let p = run(
            &[session("350000000000002", "10.45.0.1", "_x")],
            &snap,
            true,
        );
        assert_eq!(kinds(&p), ["delete:9", "assign:10.45.0.1:item:2"]);
        assert_eq!(p.stats.moves, 1);
    }

    #[test]
    fn an_unknown_cpe_gets_an_item_then_its_assignment_and_account_link() {
        let snap = SinkSnapshot {
            accounts: vec![Account {
                id: "100".into(),
                name: "Jane Doe".into(),
                address_ids: vec!["a1".into()],
                archived: false,
            }],
            ..SinkSnapshot::default()
        };
        let p = run(
            &[session("350000000000003", "10.45.0.3", " jane  DOE")],
            &snap,
            true,
        );
        assert_eq!(
            kinds(&p),
            [
                "new-item:imei:350000000000003",
                "assign:10.45.0.3:new-item:imei:350000000000003",
                "link:new-item:imei:350000000000003:a1"
            ]
        );
        let ChangeAction::CreateItem { fields, .. } = &p.changes.changes[0].action else {
            panic!()
        };
        assert_eq!(fields["imsi"], "001010000000003");
    }

    #[test]
    fn ambiguous_and_unknown_names_are_reported_never_guessed() {
        let acct = |id: &str, name: &str, archived| Account {
            id: id.into(),
            name: name.into(),
            address_ids: vec![format!("a{id}")],
            archived,
        };
        let snap = SinkSnapshot {
            accounts: vec![
                acct("1", "John Smith", false),
                acct("2", "john smith", false),
                acct("3", "Old", true),
            ],
            items: vec![
                item("1", "350000000000001", None),
                item("2", "350000000000002", None),
            ],
            ..SinkSnapshot::default()
        };
        let p = run(
            &[
                session("350000000000001", "10.45.0.1", "John Smith"),
                session("350000000000002", "10.45.0.2", "Old"),
            ],
            &snap,
            true,
        );
        assert!(p.changes.changes.iter().all(|c| !c.id.starts_with("link:")));
        assert!(
            p.warnings
                .iter()
                .any(|w| w.message.contains("2 accounts are named")),
            "{:?}",
            p.warnings
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.message.contains("no account is named \"Old\"")),
            "archived never matches: {:?}",
            p.warnings
        );
    }

    #[test]
    fn guards_keep_an_empty_or_partial_answer_from_deleting() {
        let snap = SinkSnapshot {
            items: (1..=4)
                .map(|i| item(&i.to_string(), &format!("35000000000000{i}"), None))
                .collect(),
            assignments: (1..=4)
                .map(|i| soft(&format!("9{i}"), &format!("10.45.0.{i}"), &i.to_string()))
                .collect(),
            accounts: vec![],
        };
        let p = run(&[], &snap, true);
        assert!(p.changes.changes.is_empty() && p.held.is_none());
        assert!(p
            .warnings
            .iter()
            .any(|w| w.message.contains("no session at all")));
        let p = run(
            &[session("350000000000001", "10.45.0.1", "_")],
            &snap,
            false,
        );
        assert!(p.changes.changes.is_empty(), "{:?}", p.changes);
        let p = run(&[session("350000000000001", "10.45.0.1", "_")], &snap, true);
        assert_eq!(p.stats.assignments_deleted, 3);
        assert!(
            p.held.as_deref().unwrap().contains("3 of 4"),
            "{:?}",
            p.held
        );
    }

    #[test]
    fn hard_assignments_and_other_subnets_are_left_alone() {
        let mut hard = soft("8", "10.45.0.8", "1");
        hard.soft = false;
        let snap = SinkSnapshot {
            items: vec![item("1", "350000000000001", None)],
            assignments: vec![hard, soft("7", "192.0.2.7", "1")],
            accounts: vec![],
        };
        let p = run(
            &[
                session("350000000000002", "10.45.0.8", "_"),
                session("350000000000001", "10.45.0.1", "_"),
            ],
            &snap,
            true,
        );
        assert!(
            p.changes
                .changes
                .iter()
                .all(|c| !c.id.starts_with("delete:")),
            "{:?}",
            kinds(&p)
        );
        assert!(p
            .warnings
            .iter()
            .any(|w| w.message.contains("hard assignment")));
    }
}
