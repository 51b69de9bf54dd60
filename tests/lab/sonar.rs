//! Fidelity of the Sonar simulator to shared/reference/sonar.md and Sonar's schema.

use efi_lab::sim::{Fault, ManualClock};
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use serde_json::{json, Value};
use std::time::Duration;

async fn sonar() -> SonarSim {
    SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab())
        .await
        .unwrap()
}

async fn gql(sim: &SonarSim, query: &str, variables: Value) -> (u16, Value) {
    let resp = efi_lab::http_client()
        .post(sim.graphql_url())
        .bearer_auth("lab-token")
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn messages(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_document_the_schema_rejects_gets_graphql_errors_and_no_data() {
    let sim = sonar().await;
    let (status, body) = gql(
        &sim,
        "{ ip_assignments { entities { id no_such_field } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.get("data").is_none(), "{body}");
    let m = messages(&body).join("\n");
    assert!(m.contains("no_such_field"), "{m}");

    // A wrong argument type is rejected too.
    let (_, body) = gql(
        &sim,
        "{ ip_assignments(paginator: {page: \"x\", records_per_page: 1}) { entities { id } } }",
        json!({}),
    )
    .await;
    assert!(!messages(&body).is_empty(), "{body}");
    // A mutation input missing a required field.
    let (_, body) = gql(
        &sim,
        "mutation { createIpAssignment(input: {subnet: \"10.45.0.9/32\", ipassignmentable_id: 7001}) { id } }",
        json!({}),
    )
    .await;
    assert!(
        messages(&body).join(" ").contains("ipassignmentable_type"),
        "{body}"
    );
}

#[tokio::test]
async fn requests_need_a_bearer_token() {
    let sim = sonar().await;
    let resp = efi_lab::http_client()
        .post(sim.graphql_url())
        .json(&json!({"query": "{ accounts { entities { id } } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = efi_lab::http_client()
        .post(sim.graphql_url())
        .bearer_auth("wrong")
        .json(&json!({"query": "{ accounts { entities { id } } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn the_401st_request_inside_a_minute_gets_the_limit_error() {
    let clock = ManualClock::new(1_700_000_000_000);
    let sim = SonarSim::start_with_clock(
        "127.0.0.1:0".parse().unwrap(),
        Scenario::lab(),
        clock.clone(),
    )
    .await
    .unwrap();
    let client = efi_lab::http_client();
    let send = || {
        client
            .post(sim.graphql_url())
            .bearer_auth("lab-token")
            .json(&json!({"query": "{ subnets { page_info { total_count } } }"}))
            .send()
    };
    for i in 0..400 {
        let r = send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "request {}", i + 1);
        clock.advance(Duration::from_millis(100)); // 400 requests in 40 s: inside one minute
    }
    let r = send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"error": "Request limit of 400/min reached."}));

    clock.advance(Duration::from_secs(21)); // the window that began at the first request ends
    assert_eq!(send().await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn pagination_walks_every_page_and_ids_are_strings() {
    let sim = sonar().await;
    // 23 soft assignments on the lab CPE, plus the hard one of the scenario.
    for i in 0..23 {
        let (_, body) = gql(
            &sim,
            "mutation($s: SubnetScalar!) { createIpAssignment(input: {subnet: $s, ipassignmentable_type: InventoryItem, ipassignmentable_id: 7001, soft: true}) { id soft subnet subnet_id } }",
            json!({"s": format!("10.45.1.{i}/32")}),
        )
        .await;
        assert!(messages(&body).is_empty(), "{body}");
        assert!(
            body["data"]["createIpAssignment"]["id"].is_string(),
            "Int64Bit as string: {body}"
        );
        assert_eq!(body["data"]["createIpAssignment"]["subnet_id"], "301");
    }
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let (_, body) = gql(
            &sim,
            "query($p: Int!) { ip_assignments(paginator: {page: $p, records_per_page: 5}, sorter: [{attribute: \"id\", direction: ASC}]) { entities { id subnet } page_info { page total_pages total_count records_per_page } } }",
            json!({"p": page}),
        )
        .await;
        let conn = &body["data"]["ip_assignments"];
        assert_eq!(conn["page_info"]["total_count"], 24, "{body}");
        assert_eq!(conn["page_info"]["total_pages"], 5);
        for e in conn["entities"].as_array().unwrap() {
            seen.push(e["id"].as_str().unwrap().to_owned());
        }
        if page >= conn["page_info"]["total_pages"].as_i64().unwrap() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), 24);
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 24, "no record on two pages");

    // No paginator: the first 100 only (the simulator's documented default).
    let (_, body) = gql(
        &sim,
        "{ ip_assignments { page_info { records_per_page page } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["ip_assignments"]["page_info"]["records_per_page"],
        100
    );
}

#[tokio::test]
async fn assignments_need_a_subnet_and_an_address_is_assigned_once() {
    let sim = sonar().await;
    let create = "mutation($s: SubnetScalar!) { createIpAssignment(input: {subnet: $s, ipassignmentable_type: InventoryItem, ipassignmentable_id: 7001, soft: true}) { id } }";
    let (_, body) = gql(&sim, create, json!({"s": "172.16.0.1/32"})).await;
    assert!(body["data"]["createIpAssignment"].is_null());
    assert!(
        messages(&body)[0].contains("not inside any subnet"),
        "{body}"
    );

    let (_, body) = gql(&sim, create, json!({"s": "10.45.0.10/32"})).await;
    assert!(messages(&body).is_empty(), "{body}");
    let (_, body) = gql(&sim, create, json!({"s": "10.45.0.10/32"})).await;
    assert!(messages(&body)[0].contains("already assigned"), "{body}");

    // An unknown holder.
    let (_, body) = gql(
        &sim,
        "mutation { createIpAssignment(input: {subnet: \"10.45.0.11/32\", ipassignmentable_type: InventoryItem, ipassignmentable_id: \"999999\", soft: true}) { id } }",
        json!({}),
    )
    .await;
    assert!(messages(&body)[0].contains("No InventoryItem"), "{body}");
}

#[tokio::test]
async fn aliased_mutations_in_one_document_run_in_order() {
    let sim = sonar().await;
    let (_, body) = gql(
        &sim,
        r#"mutation {
            a: createIpAssignment(input: {subnet: "10.45.0.20/32", ipassignmentable_type: InventoryItem, ipassignmentable_id: 7001, soft: true}) { id subnet }
            b: createIpAssignment(input: {subnet: "10.45.0.21/32", ipassignmentable_type: InventoryItem, ipassignmentable_id: 7001, soft: true}) { id subnet }
            c: createIpAssignment(input: {subnet: "10.45.0.20/32", ipassignmentable_type: InventoryItem, ipassignmentable_id: 7001, soft: true}) { id }
        }"#,
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["a"]["subnet"], "10.45.0.20/32");
    assert_eq!(body["data"]["b"]["subnet"], "10.45.0.21/32");
    assert!(
        body["data"]["c"].is_null(),
        "the third takes an address the first already holds"
    );
    assert_eq!(body["errors"][0]["path"], json!(["c"]));

    let id = body["data"]["a"]["id"].as_str().unwrap().to_owned();
    // Moving the address to another holder, then deleting it.
    let (_, body) = gql(
        &sim,
        "mutation($id: Int64Bit!) { d: deleteIpAssignment(id: $id) { success message } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(body["data"]["d"]["success"], true);
    let (_, body) = gql(
        &sim,
        "mutation($id: Int64Bit!) { deleteIpAssignment(id: $id) { success } }",
        json!({"id": id}),
    )
    .await;
    assert!(messages(&body)[0].contains("No IpAssignment"), "{body}");
}

#[tokio::test]
async fn update_without_soft_turns_a_soft_assignment_hard_as_the_schema_default_says() {
    let sim = sonar().await;
    let (_, body) = gql(
        &sim,
        "mutation { createIpAssignment(input: {subnet: \"10.45.0.30/32\", ipassignmentable_type: InventoryItem, ipassignmentable_id: 7001, soft: true}) { id soft } }",
        json!({}),
    )
    .await;
    let id = body["data"]["createIpAssignment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["data"]["createIpAssignment"]["soft"], true);
    let (_, body) = gql(
        &sim,
        "mutation($id: Int64Bit!) { updateIpAssignment(id: $id, input: {description: \"moved\"}) { soft description _version } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(body["data"]["updateIpAssignment"]["soft"], false, "{body}");
    assert_eq!(body["data"]["updateIpAssignment"]["_version"], "2");
}

#[tokio::test]
async fn inventory_items_are_created_with_fields_validated_and_assigned_to_addresses() {
    let sim = sonar().await;
    let create = r#"mutation($imei: Text, $mac: Text) {
        createInventoryItems(input: {inventory_model_id: 502, inventoryitemable_type: InventoryLocation, inventoryitemable_id: 1,
            items: [{individual_inventory_item_fields: [
                {inventory_model_field_id: 5021, value: $imei},
                {inventory_model_field_id: 5022, value: $mac}]}]}) {
          id inventory_model_id status
          inventory_model_field_data { entities { inventory_model_field_id value } }
        }
    }"#;
    let (_, body) = gql(
        &sim,
        create,
        json!({"imei": "350000000000099", "mac": "02-ef-1a-00-00-99"}),
    )
    .await;
    assert!(messages(&body).is_empty(), "{body}");
    let item = &body["data"]["createInventoryItems"][0];
    assert_eq!(item["inventory_model_id"], "502");
    assert_eq!(item["status"], "FUNCTIONAL");
    let values: Vec<&str> = item["inventory_model_field_data"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["350000000000099", "02:EF:1A:00:00:99"],
        "MAC normalised"
    );
    let item_id = item["id"].as_str().unwrap().to_owned();

    // The same IMEI again: GLOBAL uniqueness (the lab's other model uses it too).
    let (_, body) = gql(
        &sim,
        create,
        json!({"imei": "350000000000011", "mac": "02:ef:1a:00:00:98"}),
    )
    .await;
    assert!(messages(&body)[0].contains("already in use"), "{body}");
    // A missing required field.
    let (_, body) = gql(
        &sim,
        create,
        json!({"imei": null, "mac": "02:ef:1a:00:00:97"}),
    )
    .await;
    assert!(messages(&body)[0].contains("required field IMEI"), "{body}");
    // A bad MAC.
    let (_, body) = gql(
        &sim,
        create,
        json!({"imei": "350000000000097", "mac": "not-a-mac"}),
    )
    .await;
    assert!(messages(&body)[0].contains("not a valid MAC"), "{body}");

    // Link to an account's address, then find it through the account.
    let (_, body) = gql(
        &sim,
        "mutation($ids: [Int64Bit!]!) { assignInventoryItems(ids: $ids, input: {inventoryitemable_type: Address, inventoryitemable_id: 2002}) { id inventoryitemable_type inventoryitemable_id } }",
        json!({"ids": [item_id]}),
    )
    .await;
    assert_eq!(
        body["data"]["assignInventoryItems"][0]["inventoryitemable_type"], "Address",
        "{body}"
    );
    let (_, body) = gql(
        &sim,
        "{ accounts(name: \"Acme Farms LLC\") { entities { id name addresses { entities { id line1 inventory_items { entities { id } } } } } } }",
        json!({}),
    )
    .await;
    let acct = &body["data"]["accounts"]["entities"][0];
    assert_eq!(
        acct["addresses"]["entities"][0]["inventory_items"]["entities"][0]["id"],
        item_id.as_str(),
        "{body}"
    );

    // Update a field, then unset another.
    let (_, body) = gql(
        &sim,
        "mutation($id: Int64Bit!) { updateInventoryItemFields(id: $id, input: {fields: [{inventory_model_field_id: 5023, value: \"001010000000099\"}, {inventory_model_field_id: 5022, unset: true}]}) { inventory_model_field_data { entities { inventory_model_field_id value } } } }",
        json!({"id": item_id}),
    )
    .await;
    let data = &body["data"]["updateInventoryItemFields"]["inventory_model_field_data"]["entities"];
    let ids: Vec<&str> = data
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["inventory_model_field_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["5021", "5023"], "{body}");
}

#[tokio::test]
async fn searches_and_relations_find_assignments_by_subnet_item_and_field_data() {
    let sim = sonar().await;
    // An assignment hanging on the MAC field value of the lab CPE.
    let (_, body) = gql(
        &sim,
        "{ inventory_items(id: 7001) { entities { inventory_model_field_data(inventory_model_field_id: 5012) { entities { id value } } } } }",
        json!({}),
    )
    .await;
    let fd = &body["data"]["inventory_items"]["entities"][0]["inventory_model_field_data"]
        ["entities"][0];
    assert_eq!(fd["value"], "02:EF:1A:00:00:11", "{body}");
    let fd_id = fd["id"].as_str().unwrap().to_owned();
    let (_, body) = gql(
        &sim,
        "mutation($id: Int64Bit!) { createIpAssignment(input: {subnet: \"10.45.2.2/32\", ipassignmentable_type: InventoryModelFieldData, ipassignmentable_id: $id, soft: true}) { id } }",
        json!({"id": fd_id}),
    )
    .await;
    assert!(messages(&body).is_empty(), "{body}");

    let (_, body) = gql(
        &sim,
        r#"{ ip_assignments(soft: true, search: [{ip_address_fields: [{attribute: "subnet", search_value: "10.45.0.0/16", match: true}]}]) {
              entities { subnet ipassignmentable_type ipassignmentable { __typename id ... on InventoryModelFieldData { value } } parent_subnet { subnet } } } }"#,
        json!({}),
    )
    .await;
    let e = &body["data"]["ip_assignments"]["entities"][0];
    assert_eq!(
        e["ipassignmentable"]["__typename"], "InventoryModelFieldData",
        "{body}"
    );
    assert_eq!(e["ipassignmentable"]["value"], "02:EF:1A:00:00:11");
    assert_eq!(e["parent_subnet"]["subnet"], "10.45.0.0/16");

    // The hard management assignment is outside the search and stays there.
    let (_, body) = gql(
        &sim,
        "{ ip_assignments(soft: false) { entities { subnet description } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["ip_assignments"]["entities"][0]["subnet"],
        "192.0.2.10/32"
    );

    // Archived accounts are hidden unless asked for.
    let (_, body) = gql(
        &sim,
        "{ accounts(name: \"John Smith\") { entities { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["accounts"]["entities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, body) = gql(&sim, "{ accounts(name: \"John Smith\", include_archived: true) { entities { id archived_at } } }", json!({})).await;
    assert_eq!(
        body["data"]["accounts"]["entities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn injected_faults_answer_as_configured() {
    let sim = sonar().await;
    sim.faults().inject("graphql", Fault::Status(503), 1);
    sim.faults().inject("graphql", Fault::RateLimited, 1);
    sim.faults().inject("graphql", Fault::Drop, 1);
    let (status, _) = gql(&sim, "{ subnets { entities { id } } }", json!({})).await;
    assert_eq!(status, 503);
    let (status, body) = gql(&sim, "{ subnets { entities { id } } }", json!({})).await;
    assert_eq!(
        (status, body),
        (429, json!({"error": "Request limit of 400/min reached."}))
    );
    let dropped = efi_lab::http_client()
        .post(sim.graphql_url())
        .bearer_auth("lab-token")
        .json(&json!({"query": "{ subnets { entities { id } } }"}))
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection is an error for the client");
    let (status, body) = gql(&sim, "{ subnets { entities { id } } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["subnets"]["entities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_poller_endpoints_hand_out_work_and_check_results() {
    let sim = sonar().await;
    sim.set_poller_work(json!({
        "hosts": {"7001": {"ip": "127.10.0.1", "monitoring_template_id": 5, "snmp_overrides": [], "type": "accounts", "polling_priority": 3}},
        "monitoring_templates": {"5": {"icmp": true, "collect_interface_statistics": true, "snmp_version": 2, "snmp_community": "public", "oids": []}}
    }));
    let client = efi_lab::http_client();
    let r = client
        .post(format!("{}/api/poller", sim.base_url()))
        .json(&json!({"api_key": "wrong", "version": "efi-poller 0.1.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": {"message": "Invalid API key."}})
    );
    let r = client
        .post(format!("{}/api/poller", sim.base_url()))
        .json(&json!({"api_key": "lab-poller-key", "version": "efi-poller 0.1.0"}))
        .send()
        .await
        .unwrap();
    let work: Value = r.json().await.unwrap();
    assert_eq!(work["data"]["hosts"]["7001"]["ip"], "127.10.0.1");

    let good = json!({"api_key": "lab-poller-key", "version": "efi-poller 0.1.0", "time_taken": 3,
        "results": {"7001": {"icmp": {"low": 1.0, "high": 3.0, "median": 2.0, "loss_percentage": 0.0},
                              "snmp": {"up": true, "message": null, "metadata": {}, "interfaces": [], "results": []}}}});
    let r = client
        .post(format!("{}/api/batch_poller", sim.base_url()))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut bad = good.clone();
    bad["results"]["7001"]["icmp"]["loss_percentage"] = json!(150.0);
    let r = client
        .post(format!("{}/api/batch_poller", sim.base_url()))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("loss_percentage"));
    assert_eq!(sim.batch_reports(), vec![good]);
    assert_eq!(sim.poller_fetches(), 1);
}
