//! Every GraphQL document the sink can send is valid against Sonar's schema.

use apollo_compiler::{ExecutableDocument, Schema};
use efi_plugin_api::sink::{Change, ChangeAction, ChangeSet, ItemRef};
use efi_plugin_api::{IoReply, IoRequest, Sink, Step};
use serde_json::Value;
use sonar::{SonarConfig, SonarSink};
use std::collections::BTreeMap;

fn schema() -> apollo_compiler::validation::Valid<Schema> {
    let sdl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../lab/data/sonar-schema.graphql"
    ))
    .unwrap();
    Schema::parse_and_validate(
        format!("schema {{ query: Query mutation: Mutation }}\n{sdl}"),
        "sonar.graphql",
    )
    .unwrap()
}

fn config() -> SonarConfig {
    serde_json::from_value(serde_json::json!({
        "url": "http://127.0.0.1:18080", "credentials": "sonar",
        "managed_subnets": ["10.45.0.0/16", "2001:db8::/48"], "default_model": "RidgeWave 6900"
    }))
    .unwrap()
}

fn documents_of(step: Step<impl std::fmt::Debug>) -> Vec<(String, Value)> {
    let Step::Requests(reqs) = step else {
        panic!("expected requests, got {step:?}")
    };
    reqs.into_iter()
        .map(|r| {
            let IoRequest::Http(h) = r else {
                panic!("only HTTP")
            };
            assert_eq!(h.credentials.as_deref(), Some("sonar"));
            assert_eq!(h.rate_class.as_deref(), Some("sonar"));
            assert!(h.retry_overload);
            let body: Value = serde_json::from_slice(&h.body).unwrap();
            (
                body["query"].as_str().unwrap().to_owned(),
                body["variables"].clone(),
            )
        })
        .collect()
}

fn assert_valid(schema: &apollo_compiler::validation::Valid<Schema>, query: &str) {
    if let Err(e) = ExecutableDocument::parse_and_validate(schema, query, "doc.graphql") {
        panic!("invalid document:\n{query}\n{}", e.errors);
    }
}

fn http_json(v: Value) -> efi_plugin_api::IoResponse {
    Ok(IoReply::Http(efi_plugin_api::HttpResponse {
        status: 200,
        headers: vec![],
        body: serde_json::to_vec(&v).unwrap(),
    }))
}

#[test]
fn snapshot_queries_are_valid() {
    let schema = schema();
    let sink = SonarSink::new(config()).unwrap();
    let mut task = sink.snapshot();
    let docs = documents_of(task.start());
    assert_eq!(docs.len(), 4);
    for (q, _) in &docs {
        assert_valid(&schema, q);
        assert!(
            q.contains(r#"sorter: [{attribute: "id", direction: ASC}]"#),
            "stable order: {q}"
        );
    }
    // The assignments query searches each managed subnet (ORed).
    let (_, vars) = &docs[3];
    assert_eq!(vars["s"].as_array().unwrap().len(), 2);
}

#[test]
fn every_mutation_kind_is_valid_and_soft_is_always_sent() {
    let schema = schema();
    let sink = SonarSink::new(config()).unwrap();
    let fields = BTreeMap::from([
        ("imei".to_owned(), "350000000000001".to_owned()),
        ("mac".to_owned(), "02:ef:1a:00:00:01".to_owned()),
    ]);
    let changes = ChangeSet {
        plan_id: "p1".into(),
        changes: vec![
            Change {
                id: "d".into(),
                action: ChangeAction::DeleteAssignment {
                    assignment_id: "9".into(),
                    ip: "10.45.0.9".parse().unwrap(),
                },
            },
            Change {
                id: "ci".into(),
                action: ChangeAction::CreateItem {
                    model: None,
                    fields: fields.clone(),
                },
            },
            Change {
                id: "u".into(),
                action: ChangeAction::UpdateItemFields {
                    item: ItemRef::Existing("7001".into()),
                    model: Some("RidgeWave 6900".into()),
                    fields,
                },
            },
            Change {
                id: "ca".into(),
                action: ChangeAction::CreateAssignment {
                    ip: "10.45.0.10".parse().unwrap(),
                    item: ItemRef::Created("ci".into()),
                },
            },
            Change {
                id: "ca6".into(),
                action: ChangeAction::CreateAssignment {
                    ip: "2001:db8::5".parse().unwrap(),
                    item: ItemRef::Existing("7001".into()),
                },
            },
            Change {
                id: "ai".into(),
                action: ChangeAction::AssignItem {
                    item: ItemRef::Created("ci".into()),
                    address_id: "2001".into(),
                    account_id: "1001".into(),
                },
            },
        ],
    };
    let mut task = sink.apply(&changes);
    let docs = documents_of(task.start());
    assert_valid(&schema, &docs[0].0);
    let models = http_json(
        serde_json::json!({"data": {"inventory_models": {"entities": [
        {"id": "501", "name": "RidgeWave 6900", "inventory_model_fields": {"entities": [
            {"id": "5011", "name": "IMEI"}, {"id": "5012", "name": "MAC Address"}, {"id": "5013", "name": "IMSI"}]}}]}}}),
    );
    let mut step = task.resume(vec![models]);
    let mut phases = Vec::new();
    // Answer every phase with success so the next one is built.
    loop {
        let docs = documents_of(step);
        for (q, vars) in &docs {
            assert_valid(&schema, q);
            if q.contains("createIpAssignment") {
                for (k, v) in vars.as_object().unwrap() {
                    assert_eq!(v["soft"], true, "{k}: soft always sent");
                }
            }
        }
        phases.push(
            docs.iter()
                .map(|(q, _)| q.split('(').nth(1).unwrap_or_default().to_owned())
                .collect::<Vec<_>>(),
        );
        let answers = docs
            .iter()
            .map(|(q, _)| {
                let n = q.matches(": ").count();
                let mut data = serde_json::Map::new();
                for i in 0..n {
                    if q.contains(&format!("a{i}: createInventoryItems")) {
                        data.insert(format!("a{i}"), serde_json::json!([{"id": "8001"}]));
                    } else if q.contains(&format!("a{i}:")) {
                        data.insert(
                            format!("a{i}"),
                            serde_json::json!({"id": "1", "success": true}),
                        );
                    }
                }
                http_json(serde_json::json!({"data": data}))
            })
            .collect();
        step = task.resume(answers);
        if let Step::Done(report) = &step {
            assert_eq!(report.results.len(), 6, "{report:?}");
            break;
        }
    }
    assert_eq!(
        phases.len(),
        5,
        "deletes, items, fields, assignments, links: {phases:?}"
    );
}
