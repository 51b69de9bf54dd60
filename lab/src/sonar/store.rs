//! The state of a simulated Sonar: entities by GraphQL type name, stored as JSON objects
//! whose keys are the schema's field names, and the rules that list, relate and change them.
//!
//! Choices where the reference is silent (documented in efi-lab's README section):
//! no paginator means page 1 of 100; `records_per_page` must be 1..=10000; an assignment
//! must lie inside a Subnet and an address can be assigned only once; unique model fields
//! are enforced (LOCAL within the model, GLOBAL across models); archived accounts are hidden
//! unless `include_archived: true`.

use super::scenario::Scenario;
use crate::sim::Clock;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

/// One entity: field name → value (IDs as JSON numbers internally).
pub type Entity = Map<String, Value>;

/// Most records one page may hold.
pub const MAX_RECORDS_PER_PAGE: i64 = 10_000;
/// Page size when the client sends no paginator.
pub const DEFAULT_RECORDS_PER_PAGE: i64 = 100;

/// Arguments that are not column filters.
const NON_FILTER_ARGS: &[&str] = &[
    "paginator",
    "sorter",
    "search",
    "general_search",
    "general_search_mode",
    "aggregation",
    "reverse_relation_filters",
    "include_archived",
];

/// One page of a list query.
#[derive(Debug, Clone)]
pub struct Page {
    /// The entities on this page.
    pub entities: Vec<Entity>,
    /// 1-based page number.
    pub page: i64,
    /// Records per page.
    pub records_per_page: i64,
    /// Matching records in all pages.
    pub total_count: i64,
}

impl Page {
    /// Number of pages (0 when nothing matched).
    pub fn total_pages(&self) -> i64 {
        (self.total_count + self.records_per_page - 1) / self.records_per_page
    }
}

/// All entities of the instance.
pub struct Store {
    tables: BTreeMap<String, BTreeMap<i64, Entity>>,
    next_id: i64,
    clock: Arc<dyn Clock>,
    /// Indexes kept in step with the tables, so the simulator stays fast at fleet scale
    /// (tens of thousands of items): assignment address → ID, field value → (data ID, field
    /// ID, item ID), item ID → its field data IDs.
    assigned: HashMap<Cidr, i64>,
    values: HashMap<String, Vec<(i64, i64, i64)>>,
    data_by_item: HashMap<i64, Vec<i64>>,
}

/// Reads an Int64Bit that may arrive as a JSON number or string.
pub fn int64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `InventoryItem` → `inventory_item`.
pub fn snake(type_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in type_name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A parsed `a.b.c.d/len` (or a bare address, taken as a host route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Parses CIDR text.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (a, l) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
            None => max,
        };
        Some(Cidr { addr, len })
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    /// True when `other` lies inside this network.
    pub fn contains(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() || other.len < self.len {
            return false;
        }
        let width = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.len == 0 {
            return true;
        }
        let shift = width - u32::from(self.len);
        (Self::bits(self.addr) >> shift) == (Self::bits(other.addr) >> shift)
    }
}

impl Store {
    /// An instance seeded from a scenario.
    pub fn from_scenario(scenario: &Scenario, clock: Arc<dyn Clock>) -> Result<Store, String> {
        let mut s = Store {
            tables: BTreeMap::new(),
            next_id: 1,
            clock,
            assigned: HashMap::new(),
            values: HashMap::new(),
            data_by_item: HashMap::new(),
        };
        for a in &scenario.accounts {
            let archived = a.archived.then(|| s.now());
            s.insert_with_id(
                "Account",
                a.id,
                json!({
                    "name": a.name, "account_status_id": 1, "account_type_id": 1, "company_id": 1,
                    "is_delinquent": false, "archived_at": archived,
                }),
            );
            for ad in &a.addresses {
                s.insert_with_id(
                    "Address",
                    ad.id,
                    json!({
                        "addressable_type": "Account", "addressable_id": a.id, "line1": ad.line1,
                        "city": ad.city, "zip": ad.zip, "country": "US", "serviceable": ad.serviceable,
                        "is_anchor": false, "type": "PHYSICAL",
                    }),
                );
            }
        }
        for m in &scenario.inventory_models {
            s.insert_with_id(
                "InventoryModel",
                m.id,
                json!({
                    "name": m.name, "model_name": m.name, "manufacturer_id": m.manufacturer_id,
                    "device_type": "OTHER", "enabled": true, "generic": false, "icon": "ROUTER760156",
                    "inventory_model_category_id": 1, "is_segmentable": false,
                }),
            );
            for f in &m.fields {
                s.insert_with_id(
                    "InventoryModelField",
                    f.id,
                    json!({
                        "inventory_model_id": m.id, "name": f.name, "type": f.field_type,
                        "primary": f.primary, "required": f.required, "unique": f.unique,
                    }),
                );
            }
        }
        for sn in &scenario.subnets {
            Cidr::parse(&sn.subnet).ok_or_else(|| format!("subnet {} is not CIDR", sn.subnet))?;
            s.insert_with_id(
                "Subnet",
                sn.id,
                json!({
                    "subnet": sn.subnet, "name": sn.name, "type": sn.subnet_type,
                    "polling_priority": 5, "supernet_id": 1,
                }),
            );
        }
        for it in &scenario.inventory_items {
            let fields = s
                .fields_of_model(it.inventory_model_id)
                .into_iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap_or_default().to_owned(),
                        int64(&f["id"]).unwrap_or(0),
                    )
                })
                .collect::<BTreeMap<_, _>>();
            s.insert_with_id(
                "InventoryItem",
                it.id,
                json!({
                    "inventory_model_id": it.inventory_model_id,
                    "inventoryitemable_type": it.inventoryitemable_type,
                    "inventoryitemable_id": it.inventoryitemable_id,
                    "status": "FUNCTIONAL", "flapping": false,
                    "icmp_status_flap_count": 0, "snmp_status_flap_count": 0,
                }),
            );
            for (name, value) in &it.fields {
                let field_id = fields.get(name).ok_or_else(|| {
                    format!(
                        "item {}: model {} has no field {name:?}",
                        it.id, it.inventory_model_id
                    )
                })?;
                s.insert(
                    "InventoryModelFieldData",
                    json!({"inventory_item_id": it.id, "inventory_model_field_id": field_id, "value": value}),
                );
            }
        }
        for a in &scenario.ip_assignments {
            let cidr = Cidr::parse(&a.subnet)
                .ok_or_else(|| format!("assignment {}: {} is not CIDR", a.id, a.subnet))?;
            let subnet_id = s
                .containing_subnet(&cidr)
                .ok_or_else(|| format!("assignment {}: {} is in no subnet", a.id, a.subnet))?;
            s.insert_with_id(
                "IpAssignment",
                a.id,
                json!({
                    "subnet": a.subnet, "subnet_id": subnet_id, "soft": a.soft,
                    "ipassignmentable_type": a.ipassignmentable_type,
                    "ipassignmentable_id": a.ipassignmentable_id, "description": a.description,
                }),
            );
        }
        Ok(s)
    }

    /// Now, as Sonar writes Datetime values.
    pub fn now(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.clock.now_ms() as i64)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    fn stamp(&self, ty: &str, id: i64, fields: &mut Entity) {
        let now = self.now();
        fields.insert("id".into(), json!(id));
        fields
            .entry("sonar_unique_id")
            .or_insert_with(|| json!(format!("{}-{id}", snake(ty))));
        fields
            .entry("created_at")
            .or_insert_with(|| json!(now.clone()));
        fields.insert("updated_at".into(), json!(now));
        fields.entry("_version").or_insert_with(|| json!("1"));
    }

    fn insert_with_id(&mut self, ty: &str, id: i64, fields: Value) -> i64 {
        let mut fields = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.stamp(ty, id, &mut fields);
        self.next_id = self.next_id.max(id + 1);
        self.index(ty, &fields, true);
        self.tables
            .entry(ty.to_owned())
            .or_default()
            .insert(id, fields);
        id
    }

    /// Adds an entity to (or removes it from) the indexes.
    fn index(&mut self, ty: &str, e: &Entity, add: bool) {
        let Some(id) = e.get("id").and_then(int64) else {
            return;
        };
        match ty {
            "IpAssignment" => {
                if let Some(c) = e
                    .get("subnet")
                    .and_then(Value::as_str)
                    .and_then(Cidr::parse)
                {
                    if add {
                        self.assigned.insert(c, id);
                    } else if self.assigned.get(&c) == Some(&id) {
                        self.assigned.remove(&c);
                    }
                }
            }
            "InventoryModelFieldData" => {
                let value = e
                    .get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let field = e
                    .get("inventory_model_field_id")
                    .and_then(int64)
                    .unwrap_or(-1);
                let item = e.get("inventory_item_id").and_then(int64).unwrap_or(-1);
                let rows = self.values.entry(value).or_default();
                rows.retain(|(d, _, _)| *d != id);
                let by_item = self.data_by_item.entry(item).or_default();
                by_item.retain(|d| *d != id);
                if add {
                    rows.push((id, field, item));
                    by_item.push(id);
                }
            }
            _ => {}
        }
    }

    /// The assignment holding exactly this address, if any.
    pub fn assignment_at(&self, cidr: &Cidr) -> Option<i64> {
        self.assigned.get(cidr).copied()
    }

    /// Field data rows holding `value`: (data ID, field ID, item ID).
    pub fn data_with_value(&self, value: &str) -> &[(i64, i64, i64)] {
        self.values
            .get(value)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Inserts an entity with the next free ID.
    pub fn insert(&mut self, ty: &str, fields: Value) -> i64 {
        let id = self.next_id;
        self.insert_with_id(ty, id, fields)
    }

    /// Changes fields of an entity, bumping `updated_at` and `_version`.
    pub fn update(&mut self, ty: &str, id: i64, changes: Entity) -> Option<Entity> {
        let now = self.now();
        let before = self.tables.get(ty)?.get(&id)?.clone();
        self.index(ty, &before, false);
        let e = self.tables.get_mut(ty)?.get_mut(&id)?;
        for (k, v) in changes {
            e.insert(k, v);
        }
        let version = e.get("_version").and_then(int64).unwrap_or(1) + 1;
        e.insert("_version".into(), json!(version.to_string()));
        e.insert("updated_at".into(), json!(now));
        let after = e.clone();
        self.index(ty, &after, true);
        Some(after)
    }

    /// Removes an entity.
    pub fn remove(&mut self, ty: &str, id: i64) -> Option<Entity> {
        let gone = self.tables.get_mut(ty)?.remove(&id)?;
        self.index(ty, &gone, false);
        Some(gone)
    }

    /// One entity.
    pub fn get(&self, ty: &str, id: i64) -> Option<&Entity> {
        self.tables.get(ty)?.get(&id)
    }

    /// Every entity of a type, by ID.
    pub fn all(&self, ty: &str) -> Vec<&Entity> {
        self.tables
            .get(ty)
            .map(|t| t.values().collect())
            .unwrap_or_default()
    }

    /// True when the type has a table (the simulator keeps such entities).
    pub fn knows(&self, ty: &str) -> bool {
        matches!(
            ty,
            "Account"
                | "Address"
                | "InventoryModel"
                | "InventoryModelField"
                | "InventoryModelFieldData"
                | "InventoryItem"
                | "Subnet"
                | "IpAssignment"
        )
    }

    /// The fields of a model.
    pub fn fields_of_model(&self, model_id: i64) -> Vec<Entity> {
        self.all("InventoryModelField")
            .into_iter()
            .filter(|f| f.get("inventory_model_id").and_then(int64) == Some(model_id))
            .cloned()
            .collect()
    }

    /// The most specific subnet holding `cidr` (EXCLUDED subnets never hold assignments).
    pub fn containing_subnet(&self, cidr: &Cidr) -> Option<i64> {
        self.all("Subnet")
            .into_iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("EXCLUDED"))
            .filter_map(|s| {
                let net = Cidr::parse(s.get("subnet")?.as_str()?)?;
                let id = int64(&s["id"])?;
                net.contains(cidr).then_some((net.len, id))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, id)| id)
    }

    /// Entities of `child_ty` related to `parent` (of `parent_ty`): through a polymorphic
    /// `<x>able_type`/`<x>able_id` pair naming the parent, or a `<parent>_id` foreign key.
    pub fn children(
        &self,
        parent_ty: &str,
        parent: &Entity,
        child_ty: &str,
        child_columns: &[String],
    ) -> Vec<Entity> {
        let Some(parent_id) = parent.get("id").and_then(int64) else {
            return Vec::new();
        };
        if parent_ty == "InventoryItem" && child_ty == "InventoryModelFieldData" {
            let table = self.tables.get(child_ty);
            return self
                .data_by_item
                .get(&parent_id)
                .map(|ids| ids.iter().filter_map(|d| table?.get(d).cloned()).collect())
                .unwrap_or_default();
        }
        let poly: Vec<(String, String)> = child_columns
            .iter()
            .filter_map(|c| {
                c.strip_suffix("able_type")
                    .map(|stem| (c.clone(), format!("{stem}able_id")))
            })
            .filter(|(_, id_col)| child_columns.contains(id_col))
            .collect();
        let fk = format!("{}_id", snake(parent_ty));
        let has_fk = child_columns.contains(&fk);
        self.all(child_ty)
            .into_iter()
            .filter(|c| {
                let via_poly = poly.iter().any(|(t, i)| {
                    c.get(t).and_then(Value::as_str) == Some(parent_ty)
                        && c.get(i).and_then(int64) == Some(parent_id)
                });
                via_poly || (has_fk && c.get(&fk).and_then(int64) == Some(parent_id))
            })
            .cloned()
            .collect()
    }

    /// Filters, searches, sorts and pages `candidates` by the arguments of a list field.
    pub fn page(
        &self,
        mut candidates: Vec<Entity>,
        args: &Map<String, Value>,
    ) -> Result<Page, String> {
        let include_archived = args
            .get("include_archived")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(rrf) = args
            .get("reverse_relation_filters")
            .and_then(Value::as_array)
        {
            if !rrf.is_empty() {
                return Err(
                    "reverse_relation_filters are not supported by the efi-lab Sonar simulator"
                        .into(),
                );
            }
        }
        if let Some(agg) = args.get("aggregation").and_then(Value::as_array) {
            if !agg.is_empty() {
                return Err("aggregation is not supported by the efi-lab Sonar simulator".into());
            }
        }
        let mut filters = Vec::new();
        for (k, v) in args {
            if NON_FILTER_ARGS.contains(&k.as_str()) || v.is_null() {
                continue;
            }
            filters.push((k.clone(), v.clone()));
        }
        let searches: Vec<Value> = args
            .get("search")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let general = args
            .get("general_search")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            .filter(|s| !s.is_empty());

        let mut kept = Vec::new();
        for e in candidates.drain(..) {
            if !include_archived && e.get("archived_at").is_some_and(|v| !v.is_null()) {
                continue;
            }
            if !filters
                .iter()
                .all(|(k, v)| same_value(e.get(k).unwrap_or(&Value::Null), v))
            {
                continue;
            }
            if !searches.is_empty() {
                let mut any = false;
                for s in &searches {
                    if search_matches(&e, s)? {
                        any = true;
                        break;
                    }
                }
                if !any {
                    continue;
                }
            }
            if let Some(g) = &general {
                let hit = e.values().any(|v| {
                    v.as_str()
                        .is_some_and(|s| s.to_lowercase().contains(g.as_str()))
                });
                if !hit {
                    continue;
                }
            }
            kept.push(e);
        }

        let sorters: Vec<(String, bool)> = args
            .get("sorter")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        Some((
                            s.get("attribute")?.as_str()?.to_owned(),
                            s.get("direction").and_then(Value::as_str) == Some("DESC"),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        kept.sort_by(|a, b| {
            for (attr, desc) in &sorters {
                let o = compare(
                    a.get(attr).unwrap_or(&Value::Null),
                    b.get(attr).unwrap_or(&Value::Null),
                );
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            compare(&a["id"], &b["id"])
        });

        let (page, rpp) = match args.get("paginator").filter(|p| !p.is_null()) {
            Some(p) => (
                p.get("page").and_then(Value::as_i64).unwrap_or(1),
                p.get("records_per_page")
                    .and_then(Value::as_i64)
                    .unwrap_or(DEFAULT_RECORDS_PER_PAGE),
            ),
            None => (1, DEFAULT_RECORDS_PER_PAGE),
        };
        if page < 1 {
            return Err(format!("paginator.page must be 1 or more, got {page}"));
        }
        if !(1..=MAX_RECORDS_PER_PAGE).contains(&rpp) {
            return Err(format!("paginator.records_per_page must be between 1 and {MAX_RECORDS_PER_PAGE}, got {rpp}"));
        }
        let total = kept.len() as i64;
        let start = ((page - 1) * rpp).min(total) as usize;
        let end = (start + rpp as usize).min(kept.len());
        Ok(Page {
            entities: kept[start..end].to_vec(),
            page,
            records_per_page: rpp,
            total_count: total,
        })
    }
}

fn same_value(have: &Value, want: &Value) -> bool {
    match (text_of(have), text_of(want)) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => text_of(a).cmp(&text_of(b)),
        },
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn range_ok(o: Ordering, op: &str) -> bool {
    match op {
        "GTE" => o != Ordering::Less,
        "GT" => o == Ordering::Greater,
        "LTE" => o != Ordering::Greater,
        "LT" => o == Ordering::Less,
        "NEQ" => o != Ordering::Equal,
        _ => o == Ordering::Equal,
    }
}

/// One `Search` object: every condition in it must hold.
fn search_matches(e: &Entity, s: &Value) -> Result<bool, String> {
    let list = |k: &str| {
        s.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if !list("geopoint_fields").is_empty() || !list("reverse_relation_filters").is_empty() {
        return Err("geopoint_fields and reverse_relation_filters searches are not supported by the efi-lab Sonar simulator".into());
    }
    for f in list("string_fields") {
        let attr = f
            .get("attribute")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let wanted = f
            .get("search_value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase();
        let is_match = f.get("match").and_then(Value::as_bool).unwrap_or(true);
        let partial = f
            .get("partial_matching")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let have = e
            .get(attr)
            .and_then(text_of)
            .unwrap_or_default()
            .to_lowercase();
        let hit = if partial {
            have.contains(&wanted)
        } else {
            have == wanted
        };
        if hit != is_match {
            return Ok(false);
        }
    }
    for key in [
        "integer_fields",
        "float_fields",
        "datetime_fields",
        "date_fields",
    ] {
        for f in list(key) {
            let attr = f
                .get("attribute")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let op = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
            let have = e.get(attr).unwrap_or(&Value::Null);
            if have.is_null() {
                return Ok(false);
            }
            if !range_ok(
                compare(have, f.get("search_value").unwrap_or(&Value::Null)),
                op,
            ) {
                return Ok(false);
            }
        }
    }
    for f in list("boolean_fields") {
        let attr = f
            .get("attribute")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let wanted = f
            .get("search_value")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let neq = f.get("operator").and_then(Value::as_str) == Some("NEQ");
        let have = e.get(attr).and_then(Value::as_bool);
        if (have == Some(wanted)) == neq {
            return Ok(false);
        }
    }
    for f in list("ip_address_fields") {
        let attr = f
            .get("attribute")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let net = f
            .get("search_value")
            .and_then(Value::as_str)
            .and_then(Cidr::parse)
            .ok_or_else(|| "ip_address_fields.search_value must be a subnet".to_string())?;
        let is_match = f.get("match").and_then(Value::as_bool).unwrap_or(true);
        let inside = e
            .get(attr)
            .and_then(Value::as_str)
            .and_then(Cidr::parse)
            .is_some_and(|c| net.contains(&c));
        if inside != is_match {
            return Ok(false);
        }
    }
    for attr in list("unset_fields") {
        if let Some(a) = attr.as_str() {
            if e.get(a).is_some_and(|v| !v.is_null()) {
                return Ok(false);
            }
        }
    }
    for attr in list("exists") {
        if let Some(a) = attr.as_str() {
            let present = e.get(a).is_some_and(|v| !v.is_null() && v != &json!([]));
            if !present {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_containment() {
        let net = Cidr::parse("10.45.0.0/16").unwrap();
        assert!(net.contains(&Cidr::parse("10.45.3.4/32").unwrap()));
        assert!(net.contains(&Cidr::parse("10.45.3.4").unwrap()));
        assert!(!net.contains(&Cidr::parse("10.46.0.1/32").unwrap()));
        assert!(!net.contains(&Cidr::parse("10.0.0.0/8").unwrap()));
        assert!(!net.contains(&Cidr::parse("2001:db8::1").unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(&Cidr::parse("2001:db8:1::5/128").unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn snake_case_type_names() {
        assert_eq!(snake("InventoryItem"), "inventory_item");
        assert_eq!(snake("Subnet"), "subnet");
    }
}
