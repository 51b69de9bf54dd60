//! Fidelity of the Magma orc8r simulator to shared/reference/epc-acs-tr069.md section 2.

use efi_lab::magma::MagmaSim;
use serde_json::Value;
use std::collections::BTreeSet;

async fn magma() -> MagmaSim {
    let sim = MagmaSim::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sim.add_network("lab");
    for i in 1..=7 {
        sim.add_subscriber(
            "lab",
            &format!("00101000000000{i}"),
            &format!("Customer {i}"),
            &format!("1555000000{i}"),
        );
    }
    sim
}

fn client(sim: &MagmaSim, with_cert: bool) -> reqwest::Client {
    efi_lab::init_tls();
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sim.pki().ca_pem.as_bytes()).unwrap()]);
    if with_cert {
        let id = sim.pki().client("admin_operator");
        b = b.identity(reqwest::Identity::from_pem(id.bundle_pem().as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn get_json(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn mutual_tls_is_required() {
    let sim = magma().await;
    let anonymous = client(&sim, false)
        .get(format!("{}/networks", sim.api_url()))
        .send()
        .await;
    assert!(
        anonymous.is_err(),
        "no client certificate: the handshake fails"
    );

    // A certificate from another CA fails the same way.
    let other = efi_lab::pki::TestPki::generate("someone else");
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sim.pki().ca_pem.as_bytes()).unwrap()])
        .identity(
            reqwest::Identity::from_pem(other.client("intruder").bundle_pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    assert!(stranger
        .get(format!("{}/networks", sim.api_url()))
        .send()
        .await
        .is_err());

    let (status, body) = get_json(&client(&sim, true), format!("{}/networks", sim.api_url())).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!(["lab"]));
}

#[tokio::test]
async fn subscriber_pages_are_keyset_and_walk_everything() {
    let sim = magma().await;
    let c = client(&sim, true);
    let mut seen = BTreeSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (status, body) = get_json(
            &c,
            format!(
                "{}/lte/lab/subscribers?page_size=3&page_token={}",
                sim.api_url(),
                urlencode(&token)
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // total_count is a separate count: all subscribers now, whatever the page.
        assert_eq!(body["total_count"], if pages == 0 { 7 } else { 8 });
        let subs = body["subscribers"].as_object().unwrap();
        for (id, s) in subs {
            assert_eq!(s["id"], id.as_str());
            assert!(id.starts_with("IMSI00101"), "{id}");
            assert!(seen.insert(id.clone()), "{id} twice");
        }
        pages += 1;
        token = body["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() || subs.is_empty() {
            break;
        }
        // A subscriber added between pages shifts nothing (keyset, not offset).
        if pages == 1 {
            sim.add_subscriber("lab", "001010000000000", "Early Bird", "15550000000");
        }
    }
    assert_eq!(pages, 3, "3 + 3 + 1");
    assert_eq!(seen.len(), 7);

    let (_, ids) = get_json(
        &c,
        format!("{}/lte/lab/subscribers?verbose=false", sim.api_url()),
    )
    .await;
    assert_eq!(ids["subscribers"].as_array().unwrap().len(), 8);

    let (status, body) = get_json(
        &c,
        format!("{}/lte/lab/subscribers?page_size=-1", sim.api_url()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid page size parameter: "));
    let (status, body) = get_json(
        &c,
        format!(
            "{}/lte/lab/subscribers?page_token=%%%garbage",
            sim.api_url()
        ),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].is_string());
    let (status, body) = get_json(&c, format!("{}/lte/nowhere/subscribers", sim.api_url())).await;
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"message": "Not Found"}))
    );
}

#[tokio::test]
async fn state_carries_mobility_ips_and_lookups_find_them() {
    let sim = magma().await;
    let c = client(&sim, true);
    assert!(sim.attach(
        "lab",
        "001010000000003",
        "internet",
        "10.46.0.3".parse().unwrap(),
        1_700_000_000
    ));
    assert!(sim.attach(
        "lab",
        "001010000000004",
        "ims",
        "2001:db8::4".parse().unwrap(),
        1_700_000_100
    ));

    let (_, sub) = get_json(
        &c,
        format!("{}/lte/lab/subscribers/IMSI001010000000003", sim.api_url()),
    )
    .await;
    assert_eq!(
        sub["state"]["mobility"][0],
        serde_json::json!({"apn": "internet", "ip": "10.46.0.3"})
    );
    assert_eq!(
        sub["state"]["subscriber_state"]["internet"][0]["lifecycle_state"],
        "SESSION_ACTIVE"
    );
    assert_eq!(
        sub["state"]["subscriber_state"]["internet"][0]["session_start_time"],
        "1700000000"
    );
    let (_, v6) = get_json(
        &c,
        format!(
            "{}/lte/lab/subscriber_state/IMSI001010000000004",
            sim.api_url()
        ),
    )
    .await;
    assert_eq!(
        v6["mobility"][0]["ip"], "",
        "an IPv6 allocation has an empty ip, as orc8r reports it"
    );
    let (_, none) = get_json(
        &c,
        format!(
            "{}/lte/lab/subscriber_state/IMSI001010000000005",
            sim.api_url()
        ),
    )
    .await;
    assert_eq!(none, serde_json::json!({}));
    let (_, plain) = get_json(
        &c,
        format!("{}/lte/lab/subscribers/IMSI001010000000005", sim.api_url()),
    )
    .await;
    assert!(plain.get("state").is_none());

    let (_, by_ip) = get_json(
        &c,
        format!("{}/lte/lab/subscribers?ip=10.46.0.3", sim.api_url()),
    )
    .await;
    assert_eq!(
        by_ip.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["IMSI001010000000003"]
    );
    let (status, _) = get_json(
        &c,
        format!("{}/lte/lab/subscribers?msisdn=000", sim.api_url()),
    )
    .await;
    assert_eq!(status, 404);
    let (_, all) = get_json(&c, format!("{}/lte/lab/subscriber_state", sim.api_url())).await;
    assert_eq!(all.as_object().unwrap().len(), 2);
    let (_, msisdns) = get_json(&c, format!("{}/lte/lab/msisdns", sim.api_url())).await;
    assert_eq!(msisdns["15550000003"], "IMSI001010000000003");

    sim.detach("lab", "001010000000003");
    let (_, all) = get_json(&c, format!("{}/lte/lab/subscriber_state", sim.api_url())).await;
    assert_eq!(all.as_object().unwrap().len(), 1);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
