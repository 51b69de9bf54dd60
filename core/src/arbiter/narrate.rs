//! A plan's changes told the way an operator thinks of them: per address, which CPE (its
//! item and identifiers) takes it and which account it is linked to; a CPE that moved from
//! one address to another as one move; an address released because its UE detached.

use efi_plugin_api::sink::{Change, ChangeAction, ItemRef, SinkSnapshot};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

/// Identifier fields named in a description, most trusted first.
const SHOWN_FIELDS: [&str; 4] = ["imei", "mac", "serial", "imsi"];

/// One sentence per address or item the changes touch, in apply order of their first
/// change. Every lookup is indexed: an initial sync plans tens of thousands of changes.
pub fn describe(changes: &[Change], snapshot: &SinkSnapshot) -> Vec<String> {
    let story = Story::new(changes, snapshot);
    let mut lines = Vec::new();
    let mut released_by_move: HashSet<&str> = HashSet::new();
    for c in changes {
        if let ChangeAction::CreateAssignment { ip, item } = &c.action {
            // The item's released assignment at another address: the CPE moved.
            let moved_from = match item {
                ItemRef::Existing(id) => story
                    .deleted_of_item
                    .get(id.as_str())
                    .and_then(|all| all.iter().find(|d| d.ip != *ip)),
                ItemRef::Created(_) => None,
            };
            let taken_from = story.deleted_at.get(ip).copied();
            let mut line = match (moved_from, taken_from) {
                (Some(old), _) => {
                    released_by_move.insert(old.assignment_id);
                    format!("{} moved {} -> {ip}", story.item(item), old.ip)
                }
                (None, Some(prev)) => {
                    released_by_move.insert(prev.assignment_id);
                    format!(
                        "{ip} -> {} (was {})",
                        story.item(item),
                        prev.item_id
                            .map_or("another holder".to_owned(), |i| format!("item {i}"))
                    )
                }
                (None, None) => format!("{ip} -> {}", story.item(item)),
            };
            if let Some(account) = story.link(item) {
                line.push_str(&format!(" -> {account}"));
            }
            lines.push(line);
        }
    }
    for d in &story.deleted {
        if !released_by_move.contains(&d.assignment_id) {
            lines.push(format!(
                "{} released: no session holds it (assignment {}{})",
                d.ip,
                d.assignment_id,
                d.item_id.map_or(String::new(), |i| format!(", item {i}"))
            ));
        }
    }
    let assigned: HashSet<&ItemRef> = changes
        .iter()
        .filter_map(|c| match &c.action {
            ChangeAction::CreateAssignment { item, .. } => Some(item),
            _ => None,
        })
        .collect();
    for c in changes {
        match &c.action {
            ChangeAction::AssignItem { item, .. } if !assigned.contains(&item) => {
                if let Some(account) = story.link(item) {
                    lines.push(format!("{} -> {account}", story.item(item)));
                }
            }
            ChangeAction::UpdateItemFields { item, fields, .. } => lines.push(format!(
                "{}: sets {}",
                story.item(item),
                fields
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => {}
        }
    }
    lines
}

/// An assignment a plan deletes.
#[derive(Clone, Copy)]
struct Deleted<'a> {
    assignment_id: &'a str,
    ip: IpAddr,
    item_id: Option<&'a str>,
}

/// What the descriptions look up, indexed: the items created by the plan, the snapshot's
/// items and accounts, the links the plan makes and the assignments it deletes.
struct Story<'a> {
    items: HashMap<&'a str, &'a BTreeMap<String, String>>,
    accounts: HashMap<&'a str, &'a str>,
    created: HashMap<&'a str, (Option<&'a str>, &'a BTreeMap<String, String>)>,
    links: HashMap<&'a ItemRef, &'a str>,
    /// Deleted assignments in plan order.
    deleted: Vec<Deleted<'a>>,
    /// The same, by the item that held them (plan order kept) and by address (the first).
    deleted_of_item: HashMap<&'a str, Vec<Deleted<'a>>>,
    deleted_at: HashMap<IpAddr, Deleted<'a>>,
}

impl<'a> Story<'a> {
    fn new(changes: &'a [Change], snapshot: &'a SinkSnapshot) -> Story<'a> {
        let item_of_assignment: HashMap<&str, Option<&str>> = snapshot
            .assignments
            .iter()
            .map(|a| (a.id.as_str(), a.item_id.as_deref()))
            .collect();
        let mut story = Story {
            items: snapshot
                .items
                .iter()
                .map(|i| (i.id.as_str(), &i.fields))
                .collect(),
            accounts: snapshot
                .accounts
                .iter()
                .map(|a| (a.id.as_str(), a.name.as_str()))
                .collect(),
            created: HashMap::new(),
            links: HashMap::new(),
            deleted: Vec::new(),
            deleted_of_item: HashMap::new(),
            deleted_at: HashMap::new(),
        };
        for c in changes {
            match &c.action {
                ChangeAction::CreateItem { model, fields } => {
                    story
                        .created
                        .insert(c.id.as_str(), (model.as_deref(), fields));
                }
                ChangeAction::AssignItem {
                    item, account_id, ..
                } => {
                    story.links.insert(item, account_id.as_str());
                }
                ChangeAction::DeleteAssignment { assignment_id, ip } => {
                    let deleted = Deleted {
                        assignment_id,
                        ip: *ip,
                        item_id: item_of_assignment
                            .get(assignment_id.as_str())
                            .copied()
                            .flatten(),
                    };
                    if let Some(item) = deleted.item_id {
                        story.deleted_of_item.entry(item).or_default().push(deleted);
                    }
                    story.deleted_at.entry(*ip).or_insert(deleted);
                    story.deleted.push(deleted);
                }
                _ => {}
            }
        }
        story
    }

    /// `item 12 (IMEI 8699...)` or `new item (RidgeWave, IMEI 8699...)`.
    fn item(&self, item: &ItemRef) -> String {
        match item {
            ItemRef::Existing(id) => {
                let fields = self
                    .items
                    .get(id.as_str())
                    .map(|f| identifiers(f))
                    .unwrap_or_default();
                if fields.is_empty() {
                    format!("item {id}")
                } else {
                    format!("item {id} ({fields})")
                }
            }
            ItemRef::Created(change) => match self.created.get(change.as_str()) {
                Some((model, fields)) => {
                    let mut parts: Vec<String> = model.iter().map(|m| m.to_string()).collect();
                    let ids = identifiers(fields);
                    if !ids.is_empty() {
                        parts.push(ids);
                    }
                    if parts.is_empty() {
                        "a new item".to_owned()
                    } else {
                        format!("a new item ({})", parts.join(", "))
                    }
                }
                None => "a new item".to_owned(),
            },
        }
    }

    /// `account "Jane Doe" (7)` when the plan links `item` to one.
    fn link(&self, item: &ItemRef) -> Option<String> {
        let id = *self.links.get(item)?;
        Some(match self.accounts.get(id) {
            Some(name) => format!("account {name:?} ({id})"),
            None => format!("account {id}"),
        })
    }
}

/// `IMEI 8699..., MAC 60:03:...` from an item's fields.
fn identifiers(fields: &BTreeMap<String, String>) -> String {
    SHOWN_FIELDS
        .iter()
        .filter_map(|k| {
            fields
                .get(*k)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{} {v}", k.to_uppercase()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use efi_plugin_api::sink::{Account, Assignment, InventoryItem};

    fn change(id: &str, action: ChangeAction) -> Change {
        Change {
            id: id.into(),
            action,
        }
    }

    fn snapshot() -> SinkSnapshot {
        SinkSnapshot {
            assignments: vec![Assignment {
                id: "a1".into(),
                ip: "10.45.0.2".parse().unwrap(),
                soft: true,
                holder_kind: "InventoryItem".into(),
                holder_id: "12".into(),
                item_id: Some("12".into()),
            }],
            items: vec![InventoryItem {
                id: "12".into(),
                model: None,
                fields: [("imei".to_owned(), "869910040000001".to_owned())].into(),
                address_id: None,
            }],
            accounts: vec![Account {
                id: "7".into(),
                name: "Jane Doe".into(),
                address_ids: vec!["70".into()],
                archived: false,
            }],
        }
    }

    #[test]
    fn a_move_is_one_line_and_a_new_cpe_names_its_identifiers_and_account() {
        let changes = vec![
            change(
                "delete:a1",
                ChangeAction::DeleteAssignment {
                    assignment_id: "a1".into(),
                    ip: "10.45.0.2".parse().unwrap(),
                },
            ),
            change(
                "item:new",
                ChangeAction::CreateItem {
                    model: Some("CPE12000SG".into()),
                    fields: [("imei".to_owned(), "357498100000003".to_owned())].into(),
                },
            ),
            change(
                "assign:10.45.1.2",
                ChangeAction::CreateAssignment {
                    ip: "10.45.1.2".parse().unwrap(),
                    item: ItemRef::Existing("12".into()),
                },
            ),
            change(
                "assign:10.45.0.4",
                ChangeAction::CreateAssignment {
                    ip: "10.45.0.4".parse().unwrap(),
                    item: ItemRef::Created("item:new".into()),
                },
            ),
            change(
                "link:new",
                ChangeAction::AssignItem {
                    item: ItemRef::Created("item:new".into()),
                    address_id: "70".into(),
                    account_id: "7".into(),
                },
            ),
        ];
        assert_eq!(
            describe(&changes, &snapshot()),
            vec![
                "item 12 (IMEI 869910040000001) moved 10.45.0.2 -> 10.45.1.2".to_owned(),
                "10.45.0.4 -> a new item (CPE12000SG, IMEI 357498100000003) -> account \"Jane Doe\" (7)"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn a_detach_releases_the_address() {
        let changes = vec![change(
            "delete:a1",
            ChangeAction::DeleteAssignment {
                assignment_id: "a1".into(),
                ip: "10.45.0.2".parse().unwrap(),
            },
        )];
        assert_eq!(
            describe(&changes, &snapshot()),
            vec!["10.45.0.2 released: no session holds it (assignment a1, item 12)".to_owned()]
        );
    }
}
