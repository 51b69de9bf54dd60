//! sonar: the efi-poller sink for Sonar v2 (GraphQL).
//!
//! Snapshot: inventory models and their fields (discovered by name), accounts with their
//! addresses, inventory items with field values, and the IP assignments inside the managed
//! subnets, every list walked page by page in a stable order (`id ASC`) with the pages after
//! the first requested at once. Apply: changes in order — deletes, new items, field updates,
//! new assignments, account links — as alias-batched mutation documents, `soft: true` always
//! sent, each change reported on its own. Rate limiting and retries of Sonar's limit answer
//! and 5xx are the host's (rate class `sonar`).

mod documents;

use documents::{Batch, Op};
use efi_plugin_api::prelude::*;
use efi_plugin_api::sink::{
    Account, ApplyReport, Assignment, ChangeAction, ChangeOutcome, ChangeResult, ChangeSet,
    InventoryItem, ItemRef, SinkSnapshot, FIELD_IMEI, FIELD_IMSI, FIELD_MAC, FIELD_SERIAL,
};
use efi_plugin_api::{HttpRequest, Sink, TlsPolicy};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The plugin.
pub struct SonarPlugin;

impl Plugin for SonarPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "sonar".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Sonar v2: soft IP assignments, inventory items and account links".into(),
            kinds: vec![PluginKind::Sink],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(SonarPlugin)
    }

    fn new_sink(&self, config: &PluginConfig) -> Result<Box<dyn Sink>, PluginError> {
        let config: SonarConfig = config.parse()?;
        SonarSink::new(config).map(|s| Box::new(s) as Box<dyn Sink>)
    }
}

fn default_page_size() -> u32 {
    500
}

fn default_batch_size() -> usize {
    25
}

fn default_fields() -> FieldNames {
    FieldNames::default()
}

/// Names of the Sonar inventory model fields that hold the identifiers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldNames {
    /// IMEI field name.
    pub imei: String,
    /// MAC address field name.
    pub mac: String,
    /// IMSI field name.
    pub imsi: String,
    /// Serial number field name.
    pub serial: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            imei: "IMEI".into(),
            mac: "MAC Address".into(),
            imsi: "IMSI".into(),
            serial: "Serial Number".into(),
        }
    }
}

/// Settings of the Sonar sink (`[sink.settings]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SonarConfig {
    /// Base URL of the instance, e.g. `https://example.sonar.software`.
    pub url: String,
    /// Host credential set holding the personal access token (`bearer`/`bearer_file`).
    pub credentials: String,
    /// Subnets whose soft assignments this tool owns (filled in by the host from
    /// `[arbiter] managed_subnets`).
    pub managed_subnets: Vec<String>,
    /// Records per page when reading lists.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Mutations per document.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Model of CPEs created before any driver identified them.
    pub default_model: String,
    /// Where new items are placed until linked to an account (`InventoryLocation` ID).
    #[serde(default = "one")]
    pub new_item_location_id: i64,
    /// Identifier field names in the models.
    #[serde(default = "default_fields")]
    pub fields: FieldNames,
    /// Accept a self-signed certificate (an on-premise test instance).
    #[serde(default)]
    pub accept_invalid_certs: bool,
}

fn one() -> i64 {
    1
}

impl SonarConfig {
    fn validate(&self) -> Result<(), PluginError> {
        efi_plugin_api::check_url("url", &self.url)?;
        if self.managed_subnets.is_empty() {
            return Err(PluginError::config(
                "managed_subnets is empty: nothing would ever be managed",
            ));
        }
        if !(1..=10_000).contains(&self.page_size) {
            return Err(PluginError::config("page_size must be between 1 and 10000"));
        }
        if !(1..=100).contains(&self.batch_size) {
            return Err(PluginError::config("batch_size must be between 1 and 100"));
        }
        Ok(())
    }

    fn request(&self, query: &str, variables: Value) -> IoRequest {
        let mut r = HttpRequest::post_json(
            format!("{}/api/graphql", self.url.trim_end_matches('/')),
            &json!({"query": query, "variables": variables}),
        )
        .with_credentials(self.credentials.clone())
        .rate_limited("sonar");
        // Reads are sent again on a 500 or a dropped answer; a mutation never is (the
        // outbox and the next cycle's reconciliation decide what happened to it).
        if !query.trim_start().starts_with("mutation") {
            r = r.idempotent();
        }
        if self.accept_invalid_certs {
            r.tls = TlsPolicy::AcceptInvalid;
        }
        IoRequest::Http(r)
    }

    fn canonical(&self, sonar_name: &str) -> Option<&'static str> {
        let f = &self.fields;
        [
            (&f.imei, FIELD_IMEI),
            (&f.mac, FIELD_MAC),
            (&f.imsi, FIELD_IMSI),
            (&f.serial, FIELD_SERIAL),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(sonar_name))
        .map(|(_, c)| c)
    }
}

/// Model name → (model ID, canonical field → field ID), as discovered from Sonar.
type Models = HashMap<String, (String, HashMap<&'static str, String>)>;

/// The sink.
pub struct SonarSink {
    config: SonarConfig,
    /// Models discovered by the last snapshot; an apply after a snapshot needs no extra
    /// request to learn them.
    models: Arc<Mutex<Models>>,
}

impl SonarSink {
    /// A sink with these settings (for tests and embedding).
    pub fn new(config: SonarConfig) -> Result<Self, PluginError> {
        config.validate()?;
        Ok(SonarSink {
            config,
            models: Arc::new(Mutex::new(HashMap::new())),
        })
    }
}

impl Sink for SonarSink {
    fn snapshot(&self) -> BoxTask<SinkSnapshot> {
        Box::new(Snapshot::new(self.config.clone(), self.models.clone()))
    }

    fn apply(&self, changes: &ChangeSet) -> BoxTask<ApplyReport> {
        let known = self
            .models
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Box::new(Apply::new(self.config.clone(), changes.clone(), known))
    }
}

/// The body of a GraphQL answer, or why there is none.
pub(crate) fn graphql_data(response: &IoResponse) -> Result<(Value, Vec<Value>), (String, bool)> {
    match response {
        Ok(IoReply::Http(r)) => {
            if r.status == 429 || r.status >= 500 {
                return Err((
                    format!("Sonar answered HTTP {} ({})", r.status, snippet(&r.body)),
                    true,
                ));
            }
            if r.status == 401 || r.status == 403 {
                return Err((
                    format!(
                        "Sonar refused the token (HTTP {}); check the credentials",
                        r.status
                    ),
                    false,
                ));
            }
            let mut body: Value = serde_json::from_slice(&r.body).map_err(|e| {
                (
                    format!(
                        "Sonar answered HTTP {} with a body that is not JSON: {e}",
                        r.status
                    ),
                    true,
                )
            })?;
            let errors = match body.get_mut("errors").map(Value::take) {
                Some(Value::Array(errors)) => errors,
                _ => Vec::new(),
            };
            if r.status != 200 {
                return Err((
                    format!("Sonar answered HTTP {}: {}", r.status, snippet(&r.body)),
                    false,
                ));
            }
            // Moved out, not cloned: a page of a large network is megabytes of JSON.
            Ok((
                body.get_mut("data").map(Value::take).unwrap_or(Value::Null),
                errors,
            ))
        }
        Ok(_) => Err(("not an HTTP answer".into(), false)),
        Err(e) => Err((format!("Sonar unreachable: {e}"), true)),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

/// Reads an Int64Bit given as a string or a number.
pub(crate) fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// ---- snapshot ----------------------------------------------------------------------------

const LISTS: [&str; 4] = [
    "inventory_models",
    "accounts",
    "inventory_items",
    "ip_assignments",
];

struct Snapshot {
    config: SonarConfig,
    discovered: Arc<Mutex<Models>>,
    /// Entities per list, and the total pages seen on page 1.
    lists: BTreeMap<&'static str, (Vec<Value>, i64, i64)>,
    stage: u8,
    pending: Vec<(&'static str, i64)>,
    waiting: Vec<(&'static str, i64)>,
}

impl Snapshot {
    fn new(config: SonarConfig, discovered: Arc<Mutex<Models>>) -> Self {
        Snapshot {
            config,
            discovered,
            lists: BTreeMap::new(),
            stage: 0,
            pending: Vec::new(),
            waiting: Vec::new(),
        }
    }

    fn page(&self, list: &str, page: i64) -> IoRequest {
        let (query, vars) = documents::list_page(list, &self.config, page);
        self.config.request(&query, vars)
    }

    /// Turns the pages read into the snapshot, consuming them (each list is moved out, not
    /// copied: at 20,000 CPEs the lists are tens of megabytes).
    fn assemble(&mut self) -> Result<SinkSnapshot, PluginError> {
        let mut lists = std::mem::take(&mut self.lists);
        let mut get = |k: &str| lists.remove(k).map(|(v, _, _)| v).unwrap_or_default();
        // Field IDs → canonical names, model IDs → names.
        let mut field_names: HashMap<String, &'static str> = HashMap::new();
        let mut model_names: HashMap<String, String> = HashMap::new();
        let models = discover_models(&self.config, &get("inventory_models"));
        for (name, (mid, fields)) in &models {
            model_names.insert(mid.clone(), name.clone());
            for (canonical, fid) in fields {
                field_names.insert(fid.clone(), canonical);
            }
        }
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = models;
        let accounts = get("accounts")
            .into_iter()
            .filter_map(|a| {
                Some(Account {
                    id: id_of(&a["id"])?,
                    name: a["name"].as_str()?.to_owned(),
                    archived: !a["archived_at"].is_null(),
                    address_ids: a["addresses"]["entities"]
                        .as_array()
                        .map(|v| {
                            let mut v: Vec<&Value> = v.iter().collect();
                            v.sort_by_key(|x| !x["serviceable"].as_bool().unwrap_or(false));
                            v.into_iter().filter_map(|x| id_of(&x["id"])).collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect();
        let mut field_data_items: HashMap<String, String> = HashMap::new();
        let items = get("inventory_items")
            .into_iter()
            .filter_map(|i| {
                let id = id_of(&i["id"])?;
                let mut fields = BTreeMap::new();
                for d in i["inventory_model_field_data"]["entities"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    if let Some(did) = id_of(&d["id"]) {
                        field_data_items.insert(did, id.clone());
                    }
                    let Some(fid) = id_of(&d["inventory_model_field_id"]) else {
                        continue;
                    };
                    if let (Some(c), Some(v)) = (field_names.get(&fid), d["value"].as_str()) {
                        fields.insert((*c).to_owned(), v.to_owned());
                    }
                }
                Some(InventoryItem {
                    model: id_of(&i["inventory_model_id"])
                        .and_then(|m| model_names.get(&m).cloned()),
                    address_id: (i["inventoryitemable_type"] == "Address")
                        .then(|| id_of(&i["inventoryitemable_id"]))
                        .flatten(),
                    id,
                    fields,
                })
            })
            .collect();
        let mut assignments = Vec::new();
        for a in get("ip_assignments") {
            let (Some(id), Some(subnet)) = (id_of(&a["id"]), a["subnet"].as_str()) else {
                continue;
            };
            let Ok(ip) = subnet
                .split('/')
                .next()
                .unwrap_or_default()
                .parse::<IpAddr>()
            else {
                efi_plugin_api::tracing::warn!(
                    id,
                    subnet,
                    "assignment with an unreadable subnet skipped"
                );
                continue;
            };
            let holder_kind = a["ipassignmentable_type"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let holder_id = id_of(&a["ipassignmentable_id"]).unwrap_or_default();
            let item_id = match holder_kind.as_str() {
                "InventoryItem" => Some(holder_id.clone()),
                "InventoryModelFieldData" => id_of(&a["ipassignmentable"]["inventory_item_id"])
                    .or_else(|| field_data_items.get(&holder_id).cloned()),
                _ => None,
            };
            assignments.push(Assignment {
                id,
                ip,
                soft: a["soft"].as_bool().unwrap_or(false),
                holder_kind,
                holder_id,
                item_id,
            });
        }
        Ok(SinkSnapshot {
            assignments,
            items,
            accounts,
        })
    }
}

impl Task for Snapshot {
    type Output = SinkSnapshot;

    fn start(&mut self) -> Step<SinkSnapshot> {
        Step::Requests(LISTS.iter().map(|l| self.page(l, 1)).collect())
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<SinkSnapshot> {
        match self.stage {
            0 => {
                let mut more = Vec::new();
                for (list, resp) in LISTS.iter().zip(&responses) {
                    let (entities, total_pages, total_count) = match read_page(list, resp) {
                        Ok(p) => p,
                        Err(e) => return Step::Failed(e),
                    };
                    for page in 2..=total_pages {
                        more.push((*list, page));
                    }
                    self.lists
                        .insert(list, (entities, total_pages, total_count));
                }
                self.stage = 2;
                self.waiting = more;
                self.next_pages()
            }
            2 => {
                let pending = std::mem::take(&mut self.pending);
                for ((list, page), resp) in pending.iter().zip(&responses) {
                    let (entities, _, total_count) = match read_page(list, resp) {
                        Ok(p) => p,
                        Err(e) => return Step::Failed(e),
                    };
                    let slot = self.lists.get_mut(list).expect("first page read");
                    if total_count != slot.2 {
                        return Step::Failed(PluginError::io(format!(
                            "Sonar's {list} changed while being read (page {page} counts {total_count}, page 1 counted {}); the next cycle reads again",
                            slot.2
                        )));
                    }
                    slot.0.extend(entities);
                }
                self.next_pages()
            }
            _ => Step::Failed(PluginError::protocol("snapshot resumed after it finished")),
        }
    }
}

/// Model name → (ID, canonical field → field ID) from `inventory_models` entities.
fn discover_models(config: &SonarConfig, entities: &[Value]) -> Models {
    let mut models = HashMap::new();
    for m in entities {
        let (Some(mid), Some(name)) = (id_of(&m["id"]), m["name"].as_str()) else {
            continue;
        };
        let mut fids = HashMap::new();
        for f in m["inventory_model_fields"]["entities"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if let (Some(fid), Some(fname)) = (id_of(&f["id"]), f["name"].as_str()) {
                if let Some(c) = config.canonical(fname) {
                    fids.insert(c, fid);
                }
            }
        }
        models.insert(name.to_owned(), (mid, fids));
    }
    models
}

impl Snapshot {
    /// Requests the next pages (a bounded number per step), or assembles when all are read.
    fn next_pages(&mut self) -> Step<SinkSnapshot> {
        if self.waiting.is_empty() {
            return self.assemble().into();
        }
        let take = MAX_PAGES_PER_STEP.min(self.waiting.len());
        self.pending = self.waiting.drain(..take).collect();
        Step::Requests(self.pending.iter().map(|(l, p)| self.page(l, *p)).collect())
    }
}

/// Most pages one snapshot step asks for: bounds the CPU a step spends reading them.
const MAX_PAGES_PER_STEP: usize = 8;

fn read_page(list: &str, resp: &IoResponse) -> Result<(Vec<Value>, i64, i64), PluginError> {
    let (data, errors) =
        graphql_data(resp).map_err(|(m, _)| PluginError::io(format!("reading {list}: {m}")))?;
    if let Some(e) = errors.first() {
        return Err(PluginError::protocol(format!(
            "reading {list}: Sonar answered an error: {}",
            e["message"].as_str().unwrap_or("(no message)")
        )));
    }
    let conn = &data[list];
    let entities = conn["entities"].as_array().cloned().ok_or_else(|| {
        PluginError::protocol(format!("reading {list}: the answer has no entities"))
    })?;
    let total_pages = conn["page_info"]["total_pages"].as_i64().unwrap_or(1);
    let total_count = conn["page_info"]["total_count"]
        .as_i64()
        .unwrap_or(entities.len() as i64);
    Ok((entities, total_pages, total_count))
}

// ---- apply -------------------------------------------------------------------------------

/// Applies a change set in phases; each phase's documents go out together.
struct Apply {
    config: SonarConfig,
    changes: ChangeSet,
    /// Model name → (model ID, canonical field → field ID): from the last snapshot, or
    /// read by the first step.
    models: Models,
    /// Change ID → ID of the item it created.
    created: HashMap<String, String>,
    results: Vec<ChangeResult>,
    phase: usize,
    in_flight: Vec<Batch>,
    /// Operations of the current phase not sent yet.
    queue: std::collections::VecDeque<Op>,
}

/// Most mutation documents one step sends: bounds the CPU a step spends building and
/// reading them, whatever the size of the plan.
const MAX_DOCUMENTS_PER_STEP: usize = 16;

/// Phases, in order: deletes release addresses before creates take them.
const PHASES: [&str; 5] = [
    "delete_assignment",
    "create_item",
    "update_item_fields",
    "create_assignment",
    "assign_item",
];

fn phase_of(a: &ChangeAction) -> &'static str {
    match a {
        ChangeAction::DeleteAssignment { .. } => "delete_assignment",
        ChangeAction::CreateItem { .. } => "create_item",
        ChangeAction::UpdateItemFields { .. } => "update_item_fields",
        ChangeAction::CreateAssignment { .. } => "create_assignment",
        ChangeAction::AssignItem { .. } => "assign_item",
        _ => "unsupported",
    }
}

impl Apply {
    fn new(config: SonarConfig, changes: ChangeSet, models: Models) -> Self {
        Apply {
            config,
            changes,
            models,
            created: HashMap::new(),
            results: Vec::new(),
            phase: 0,
            in_flight: Vec::new(),
            queue: std::collections::VecDeque::new(),
        }
    }

    fn fail(&mut self, change_id: &str, error: String, retryable: bool) {
        self.results.push(ChangeResult {
            change_id: change_id.to_owned(),
            outcome: ChangeOutcome::Failed { error, retryable },
        });
    }

    fn resolve(&self, item: &ItemRef) -> Result<String, String> {
        match item {
            ItemRef::Existing(id) => Ok(id.clone()),
            ItemRef::Created(cid) => self
                .created
                .get(cid)
                .cloned()
                .ok_or_else(|| format!("the item of change {cid} was not created")),
        }
    }

    /// Builds the operations of the current phase; changes that cannot be built fail here.
    fn ops(&mut self) -> Vec<Op> {
        let phase = PHASES[self.phase];
        let changes: Vec<_> = self
            .changes
            .changes
            .iter()
            .filter(|c| phase_of(&c.action) == phase)
            .cloned()
            .collect();
        let mut ops = Vec::new();
        for c in changes {
            let built = match &c.action {
                ChangeAction::DeleteAssignment { assignment_id, .. } => {
                    Ok(Op::delete_assignment(&c.id, assignment_id))
                }
                ChangeAction::CreateItem { model, fields } => {
                    let model = model
                        .clone()
                        .unwrap_or_else(|| self.config.default_model.clone());
                    match self.models.get(&model) {
                        None => Err(format!("Sonar has no inventory model named {model:?}")),
                        Some((mid, fids)) => Ok(Op::create_item(
                            &c.id,
                            mid,
                            self.config.new_item_location_id,
                            &field_values(fids, fields),
                        )),
                    }
                }
                ChangeAction::UpdateItemFields {
                    item,
                    model,
                    fields,
                } => {
                    let model = model
                        .clone()
                        .unwrap_or_else(|| self.config.default_model.clone());
                    match (self.resolve(item), self.models.get(&model)) {
                        (Err(e), _) => Err(e),
                        (_, None) => Err(format!("Sonar has no inventory model named {model:?}")),
                        (Ok(id), Some((_, fids))) => {
                            Ok(Op::update_fields(&c.id, &id, &field_values(fids, fields)))
                        }
                    }
                }
                ChangeAction::CreateAssignment { ip, item } => self
                    .resolve(item)
                    .map(|id| Op::create_assignment(&c.id, *ip, &id)),
                ChangeAction::AssignItem {
                    item, address_id, ..
                } => self
                    .resolve(item)
                    .map(|id| Op::assign_item(&c.id, &id, address_id)),
                _ => Err("this sink does not know the change kind".into()),
            };
            match built {
                Ok(op) => ops.push(op),
                Err(e) => {
                    // A change waiting for an item whose creation may succeed later may too.
                    let retryable = self.depends_on_retryable(&c.action);
                    self.fail(&c.id, e, retryable)
                }
            }
        }
        ops
    }

    /// True when the change needs an item whose creation failed in a retryable way.
    fn depends_on_retryable(&self, action: &ChangeAction) -> bool {
        let item = match action {
            ChangeAction::UpdateItemFields { item, .. }
            | ChangeAction::CreateAssignment { item, .. }
            | ChangeAction::AssignItem { item, .. } => item,
            _ => return false,
        };
        let ItemRef::Created(cid) = item else {
            return false;
        };
        self.results.iter().any(|r| {
            &r.change_id == cid
                && matches!(
                    r.outcome,
                    ChangeOutcome::Failed {
                        retryable: true,
                        ..
                    }
                )
        })
    }

    /// Requests of the next phase that has work; Done when none is left.
    fn next_phase(&mut self) -> Step<ApplyReport> {
        while self.queue.is_empty() {
            if self.phase >= PHASES.len() {
                return Step::Done(ApplyReport {
                    results: std::mem::take(&mut self.results),
                });
            }
            self.queue = self.ops().into();
            self.phase += 1;
        }
        let take = (MAX_DOCUMENTS_PER_STEP * self.config.batch_size).min(self.queue.len());
        let ops: Vec<Op> = self.queue.drain(..take).collect();
        self.in_flight = documents::batches(ops, self.config.batch_size);
        let requests = self
            .in_flight
            .iter()
            .map(|b| self.config.request(&b.query, b.variables.clone()))
            .collect();
        Step::Requests(requests)
    }
}

fn field_values(
    fids: &HashMap<&'static str, String>,
    values: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    values
        .iter()
        .filter_map(|(k, v)| fids.get(k.as_str()).map(|fid| (fid.clone(), v.clone())))
        .collect()
}

impl Task for Apply {
    type Output = ApplyReport;

    fn start(&mut self) -> Step<ApplyReport> {
        if self.changes.changes.is_empty() {
            return Step::Done(ApplyReport::default());
        }
        if !self.models.is_empty() {
            return self.next_phase();
        }
        let (query, vars) = documents::models_query();
        Step::Requests(vec![self.config.request(&query, vars)])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<ApplyReport> {
        if self.models.is_empty() && self.in_flight.is_empty() && self.phase == 0 {
            // The answer to the models query.
            let Some(resp) = responses.first() else {
                return Step::Failed(PluginError::protocol("no answer to the models query"));
            };
            let (data, errors) = match graphql_data(resp) {
                Ok(d) => d,
                Err((m, retryable)) => {
                    let ids: Vec<String> =
                        self.changes.changes.iter().map(|c| c.id.clone()).collect();
                    for id in ids {
                        self.fail(&id, format!("reading inventory models: {m}"), retryable);
                    }
                    return Step::Done(ApplyReport {
                        results: std::mem::take(&mut self.results),
                    });
                }
            };
            if let Some(e) = errors.first() {
                return Step::Failed(PluginError::protocol(format!(
                    "reading inventory models: {}",
                    e["message"]
                )));
            }
            let entities = data["inventory_models"]["entities"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            self.models = discover_models(&self.config, &entities);
            if self.models.is_empty() {
                self.models
                    .insert(String::new(), (String::new(), HashMap::new()));
            }
            return self.next_phase();
        }
        let batches = std::mem::take(&mut self.in_flight);
        for (batch, resp) in batches.iter().zip(&responses) {
            match graphql_data(resp) {
                Err((m, retryable)) => {
                    for op in &batch.ops {
                        self.fail(&op.change_id, m.clone(), retryable);
                    }
                }
                Ok((data, errors)) => {
                    for op in &batch.ops {
                        let answer = &data[op.alias.as_str()];
                        let error = errors
                            .iter()
                            .find(|e| e["path"][0].as_str() == Some(op.alias.as_str()));
                        match (answer.is_null(), error) {
                            (false, _) => {
                                let remote = op.remote_id(answer);
                                if op.creates_item {
                                    if let Some(id) = &remote {
                                        self.created.insert(op.change_id.clone(), id.clone());
                                    }
                                }
                                self.results.push(ChangeResult {
                                    change_id: op.change_id.clone(),
                                    outcome: ChangeOutcome::Applied { remote_id: remote },
                                });
                            }
                            (true, Some(e)) => {
                                let m = e["message"].as_str().unwrap_or("(no message)").to_owned();
                                self.fail(&op.change_id, format!("Sonar refused it: {m}"), false);
                            }
                            (true, None) => {
                                let m = errors
                                    .first()
                                    .and_then(|e| e["message"].as_str())
                                    .unwrap_or("no data and no error for this change")
                                    .to_owned();
                                self.fail(
                                    &op.change_id,
                                    format!("Sonar refused the document: {m}"),
                                    false,
                                );
                            }
                        }
                    }
                }
            }
        }
        self.next_phase()
    }
}

efi_plugin_api::export_plugin!(SonarPlugin);
