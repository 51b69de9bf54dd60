//! Fidelity of the GenieACS NBI simulator to shared/reference/epc-acs-tr069.md section 3.

use efi_lab::genieacs::{model_fleet, GenieAcsSim};
use serde_json::Value;

async fn acs() -> GenieAcsSim {
    let fleet = model_fleet(
        [
            "10.45.0.1",
            "10.45.0.2",
            "10.45.0.3",
            "10.45.0.4",
            "10.45.0.5",
        ],
        "2026-11-26T08:00:00.000Z",
    );
    GenieAcsSim::start("127.0.0.1:0".parse().unwrap(), fleet)
        .await
        .unwrap()
}

async fn devices(
    sim: &GenieAcsSim,
    params: &[(&str, &str)],
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let r = efi_lab::http_client()
        .get(format!("{}/devices/", sim.base_url()))
        .query(params)
        .send()
        .await
        .unwrap();
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

#[tokio::test]
async fn devices_come_in_genieacs_layout_with_total_and_version() {
    let sim = acs().await;
    let (status, headers, body) = devices(&sim, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["total"], "5");
    assert_eq!(headers["genieacs-version"], "1.2.16");
    assert!(
        body.starts_with("[\n{") && body.ends_with("}\n]"),
        "{body:.40}"
    );
    let docs: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(docs[0]["_id"], "600347-RidgeWave%206900-600347A1B2C3");
    let leaf = &docs[0]["InternetGatewayDevice"]["WANDevice"]["X_BEC_COM_ModuleA"]["IMEI"];
    assert_eq!(
        leaf["_value"], "869910040000001\r",
        "BEC's trailing \\r kept, as devices send it"
    );
    assert_eq!(leaf["_type"], "xsd:string");
    assert_eq!(leaf["_object"], false);
    assert_eq!(docs[0]["InternetGatewayDevice"]["_object"], true);

    let (_, headers, body) = devices(&sim, &[("query", r#"{"_id":"nobody"}"#)]).await;
    assert_eq!(headers["total"], "0");
    assert_eq!(body, "[\n\n]");
}

#[tokio::test]
async fn queries_match_parameter_values_and_projections_trim_documents() {
    let sim = acs().await;
    let (_, headers, body) = devices(
        &sim,
        &[
            ("query", r#"{"InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress":"10.45.0.5"}"#),
            ("projection", "_deviceId,InternetGatewayDevice.WANDevice.1.WANNetConfigInfo.ECI"),
        ],
    )
    .await;
    assert_eq!(headers["total"], "1");
    let docs: Vec<Value> = serde_json::from_str(&body).unwrap();
    let d = &docs[0];
    assert_eq!(d["_deviceId"]["_ProductClass"], "CPE12300");
    assert_eq!(
        d["InternetGatewayDevice"]["WANDevice"]["1"]["WANNetConfigInfo"]["ECI"]["_value"],
        "000A617"
    );
    assert!(
        d["InternetGatewayDevice"]["DeviceInfo"].is_null(),
        "not projected"
    );
    assert!(d.get("_lastInform").is_none());

    // Paging with sort + skip/limit; `total` ignores them.
    let (_, headers, body) = devices(
        &sim,
        &[
            ("sort", r#"{"_id":1}"#),
            ("skip", "1"),
            ("limit", "2"),
            ("projection", "_id"),
        ],
    )
    .await;
    assert_eq!(headers["total"], "5");
    let docs: Vec<Value> = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = docs.iter().map(|d| d["_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "34BA9A-CPE12300-00000000001",
            "48BF74-IDU%2FEG2013BM11%2FGDM7243QT-1203000AQ0000000002"
        ]
    );
}

#[tokio::test]
async fn errors_are_plain_text_as_genieacs_answers_them() {
    let sim = acs().await;
    let (status, _, body) = devices(&sim, &[("query", "{not json")]).await;
    assert_eq!(status, 400);
    assert!(body.starts_with("SyntaxError: "), "{body}");
    let r = efi_lab::http_client()
        .get(format!("{}/nonsense/", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "404 Not Found");
    let r = efi_lab::http_client()
        .delete(format!("{}/devices/", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
}
