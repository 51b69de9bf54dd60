//! Fidelity of the Raemis simulator to shared/reference/epc-acs-tr069.md section 1.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use efi_lab::raemis::{PushTarget, RaemisOptions, RaemisSim, Subscriber};
use efi_lab::sim::{Fault, ManualClock, SimServer};
use serde_json::Value;
use std::sync::{Arc, Mutex};

async fn raemis() -> RaemisSim {
    let sim = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
        .await
        .unwrap();
    sim.add_subscriber(Subscriber::new(
        "001010000000001",
        "350000000000001",
        "15550000001",
        "Jane Doe",
    ));
    sim.add_subscriber(Subscriber::new(
        "001010000000002",
        "",
        "15550000002",
        "Acme Farms LLC",
    ));
    sim
}

fn get(sim: &RaemisSim, path: &str) -> reqwest::RequestBuilder {
    efi_lab::http_client()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth("raemis", Some("raemis-lab"))
}

#[tokio::test]
async fn the_api_needs_basic_auth_or_a_session_cookie() {
    let sim = raemis().await;
    let client = efi_lab::http_client();
    let r = client
        .get(format!("{}/api/subscriber", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"raemis\"");
    let r = client
        .get(format!("{}/api/subscriber", sim.base_url()))
        .basic_auth("raemis", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let r = client
        .post(format!("{}/api/session", sim.base_url()))
        .form(&[("username", "raemis"), ("password", "raemis-lab")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = client
        .get(format!("{}/api/subscriber", sim.base_url()))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn subscribers_and_sessions_follow_attach_and_detach() {
    let sim = raemis().await;
    let subs: Vec<Value> = get(&sim, "/api/subscriber")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(
        subs[0]["imsi"], "001010000000001",
        "IMSIs are strings with their leading zeros"
    );
    assert_eq!(subs[0]["local_ps_attachment"], "DETACHED");
    assert_eq!(subs[1]["imei"], "", "an unknown IMEI is empty");

    sim.attach("001010000000001", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    let sessions: Vec<Value> = get(&sim, "/api/data_session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["imsi"], "001010000000001");
    assert_eq!(sessions[0]["ip"], "10.45.0.10");
    assert_eq!(sessions[0]["apn"], "internet");
    let sub: Vec<Value> = get(&sim, "/api/subscriber?imsi=001010000000001")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0]["local_ps_attachment"], "ATTACHED");
    let count: Vec<u64> = get(&sim, "/api/count/data_session?apn=internet")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count, [1]);

    sim.detach("001010000000001").await.unwrap();
    let sessions: Vec<Value> = get(&sim, "/api/data_session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sessions.is_empty());
    assert!(sim
        .attach("999", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .is_err());
}

#[tokio::test]
async fn faults_empty_list_error_truncated_json() {
    let sim = raemis().await;
    sim.attach("001010000000001", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    sim.faults().inject("data_session", Fault::EmptyList, 1);
    sim.faults().inject("data_session", Fault::Status(500), 1);
    sim.faults().inject("data_session", Fault::Truncated, 1);
    let empty: Vec<Value> = get(&sim, "/api/data_session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert_eq!(
        get(&sim, "/api/data_session")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        500
    );
    let text = get(&sim, "/api/data_session")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "truncated: {text}"
    );
    let ok: Vec<Value> = get(&sim, "/api/data_session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(
        get(&sim, "/api/no_such_table")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, String)>>>);

async fn listener() -> (SimServer, Received) {
    let received = Received::default();
    let router = Router::new()
        .route(
            "/events",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: String| async move {
                    r.0.lock().unwrap().push((headers, body));
                    ""
                },
            ),
        )
        .with_state(received.clone());
    (
        SimServer::start("127.0.0.1:0".parse().unwrap(), router)
            .await
            .unwrap(),
        received,
    )
}

#[tokio::test]
async fn pushes_arrive_form_encoded_in_the_documented_format() {
    let clock = ManualClock::new(1_721_643_746_123);
    let sim = RaemisSim::start_with_clock(
        "127.0.0.1:0".parse().unwrap(),
        RaemisOptions::default(),
        clock,
    )
    .await
    .unwrap();
    sim.add_subscriber(Subscriber::new(
        "001010000000001",
        "350000000000001",
        "15550000001",
        "Jane Doe",
    ));
    let (server, received) = listener().await;
    sim.set_push_target(Some(PushTarget {
        url: format!("{}/events", server.base_url()),
        basic: Some(("efi".into(), "push-secret".into())),
        headers: vec![],
    }));
    sim.attach("001010000000001", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    sim.detach("001010000000001").await.unwrap();

    let got = received.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (headers, body) = &got[0];
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert!(headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["imsi", "event_type", "event_time", "add_text"]);
    assert_eq!(fields[0].1, "001010000000001");
    assert_eq!(fields[1].1, "pdp_context_activated");
    assert_eq!(fields[2].1, "2024-07-22 10:22:26.123000");
    let add: Value = serde_json::from_str(&fields[3].1).unwrap();
    assert_eq!(add["ip"], "10.45.0.10");
    assert_eq!(add["apn"], "internet");

    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&got[1].1).unwrap();
    assert_eq!(fields[1].1, "pdp_context_deactivated");
    let add: Value = serde_json::from_str(&fields[3].1).unwrap();
    assert_eq!(
        add["ip"], "10.45.0.10",
        "the released address travels with the detach"
    );
    assert!(sim.pushes().iter().all(|(_, status)| status == &Ok(200)));
}

#[tokio::test]
async fn pushes_can_be_lost_duplicated_and_reordered() {
    let sim = raemis().await;
    let (server, received) = listener().await;
    sim.set_push_target(Some(PushTarget {
        url: format!("{}/events", server.base_url()),
        basic: None,
        headers: vec![("x-efi-secret".into(), "s3cret".into())],
    }));
    let event_types = |r: &Received| -> Vec<String> {
        r.0.lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                let f: Vec<(String, String)> = serde_urlencoded::from_str(b).unwrap();
                format!("{}:{}", f[0].1, f[1].1)
            })
            .collect()
    };
    sim.drop_next_pushes(1);
    sim.attach("001010000000001", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    assert!(
        event_types(&received).is_empty(),
        "the first event was lost"
    );
    assert_eq!(
        sim.sessions().len(),
        1,
        "but the session exists: a pull heals it"
    );

    sim.duplicate_next_pushes(1);
    sim.attach("001010000000002", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .unwrap();
    assert_eq!(event_types(&received).len(), 2);

    sim.pause_pushes();
    sim.detach("001010000000002").await.unwrap();
    sim.attach("001010000000002", "10.45.0.12".parse().unwrap(), "internet")
        .await
        .unwrap();
    assert_eq!(event_types(&received).len(), 2, "held");
    sim.release(true).await;
    let events = event_types(&received);
    assert_eq!(
        events[2..],
        [
            "001010000000002:pdp_context_activated",
            "001010000000002:pdp_context_deactivated"
        ],
        "delivered out of order"
    );
    let (headers, _) = received.0.lock().unwrap()[0].clone();
    assert_eq!(headers["x-efi-secret"], "s3cret");
}
