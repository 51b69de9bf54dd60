//! The GenieACS source on scripted NBI answers: paging by `skip`/`limit` with the `total`
//! header, device documents flattened to parameters, the address found per model family,
//! and errors that name the request.

use efi_plugin_api::source::SessionBatch;
use efi_plugin_api::testing::run;
use efi_plugin_api::{HttpResponse, IoError, IoErrorKind, IoReply, IoRequest, IoResponse, Source};
use genieacs::{device, GenieAcsConfig, GenieAcsSource};
use serde_json::{json, Value};

fn source(page_size: u32) -> GenieAcsSource {
    GenieAcsSource::new(GenieAcsConfig {
        url: "http://acs.test:7557/".into(),
        credentials: None,
        accept_invalid_certs: false,
        page_size,
        trees: vec!["InternetGatewayDevice".into()],
    })
}

fn leaf(v: Value, t: &str) -> Value {
    json!({"_value": v, "_type": t, "_timestamp": "2026-11-26T11:59:00.000Z", "_object": false})
}

fn baicells(n: u32) -> Value {
    json!({
        "_id": format!("48BF74-ODU%2FEG7010AM11%2FGDM7243QT-120300000000{n}"),
        "_deviceId": {"_Manufacturer": "Baicells", "_OUI": "48BF74",
                      "_ProductClass": "ODU/EG7010AM11/GDM7243QT", "_SerialNumber": format!("120300000000{n}")},
        "_lastInform": "2026-11-26T12:00:00.000Z",
        "InternetGatewayDevice": {"_object": true,
            "DeviceInfo": {"_object": true, "UpTime": leaf(json!(3600), "xsd:unsignedInt")},
            "WEB_GUI": {"Overview": {"LTEStatus": {"APNList": {"1": {"IPAddress": leaf(json!(format!("10.45.0.{n}")), "xsd:string")}}}}}
        }
    })
}

fn page(docs: &[Value], total: Option<usize>) -> IoResponse {
    let mut headers = Vec::new();
    if let Some(t) = total {
        headers.push(("total".to_owned(), t.to_string()));
    }
    Ok(IoReply::Http(HttpResponse {
        status: 200,
        headers,
        body: serde_json::to_vec(docs).unwrap(),
    }))
}

fn url(req: &IoRequest) -> String {
    match req {
        IoRequest::Http(h) => h.url.clone(),
        other => panic!("not HTTP: {other:?}"),
    }
}

#[test]
fn every_page_is_read_and_each_device_becomes_an_acs_device() {
    let all: Vec<Value> = (1..=5).map(baicells).collect();
    let mut asked = Vec::new();
    let batch: SessionBatch = run(source(2).poll(), |req| {
        let u = url(req);
        asked.push(u.clone());
        let skip: usize = u
            .split("skip=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        page(&all[skip..(skip + 2).min(5)], Some(5))
    })
    .unwrap();
    assert_eq!(asked.len(), 3, "pages of 2, 2 and 1: {asked:?}");
    assert!(asked[0].starts_with("http://acs.test:7557/devices/?query=%7B%7D&projection=_id%2C_deviceId%2C_lastInform%2CInternetGatewayDevice&sort=%7B%22_id%22%3A1%7D&skip=0&limit=2"), "{}", asked[0]);
    assert!(batch.sessions.is_empty() && batch.complete);
    assert_eq!(batch.acs_devices.len(), 5);
    let d = &batch.acs_devices[2];
    assert_eq!(
        d.address,
        Some("10.45.0.3".parse().unwrap()),
        "the APN address"
    );
    assert_eq!(
        (d.oui.as_str(), d.serial.as_str()),
        ("48BF74", "1203000000003")
    );
    assert_eq!(d.last_inform_unix_ms, Some(1_795_694_400_000));
    let up = d
        .params
        .iter()
        .find(|p| p.path == "InternetGatewayDevice.DeviceInfo.UpTime")
        .unwrap();
    assert_eq!(
        (up.value.as_str(), up.xsd_type.as_deref()),
        ("3600", Some("xsd:unsignedInt"))
    );
}

#[test]
fn a_short_page_ends_the_pull_without_a_total_header() {
    let batch = run(source(10).poll(), |_| page(&[baicells(1)], None)).unwrap();
    assert_eq!(batch.acs_devices.len(), 1);
}

#[test]
fn addresses_come_from_the_wan_connection_then_the_connection_request_url() {
    let mut doc = baicells(1);
    doc["InternetGatewayDevice"]["WANDevice"] = json!({"1": {"WANConnectionDevice": {"12": {"WANPPPConnection": {"1": {
        "ExternalIPAddress": leaf(json!("10.45.9.9"), "xsd:string")}}}}}});
    assert_eq!(
        device(&doc).unwrap().address,
        Some("10.45.9.9".parse().unwrap()),
        "WAN first"
    );
    let tr181 = json!({
        "_deviceId": {"_OUI": "34BA9A", "_SerialNumber": "1"},
        "Device": {"ManagementServer": {"ConnectionRequestURL": leaf(json!("http://[fd00::7]:7547/creq"), "xsd:string")}}
    });
    assert_eq!(
        device(&tr181).unwrap().address,
        Some("fd00::7".parse().unwrap())
    );
    let nowhere = json!({"_deviceId": {"_OUI": "34BA9A", "_SerialNumber": "1"},
        "Device": {"X": {"ExternalIPAddress": leaf(json!("0.0.0.0"), "xsd:string")}}});
    assert_eq!(device(&nowhere).unwrap().address, None);
    assert!(
        device(&json!({"_deviceId": {"_OUI": "48BF74"}})).is_none(),
        "no serial"
    );
}

#[test]
fn nbi_failures_name_the_request() {
    let e = run(source(10).poll(), |_| {
        Err(IoError::new(IoErrorKind::Refused, "connection refused"))
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("GenieACS /devices/ (skip 0): refused"),
        "{e}"
    );
    let e = run(source(10).poll(), |_| {
        Ok(IoReply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: b"[{\"_id\":".to_vec(),
        }))
    })
    .unwrap_err();
    assert!(e.to_string().contains("not a JSON array of devices"), "{e}");
    let e = run(source(10).poll(), |_| {
        Ok(IoReply::Http(HttpResponse {
            status: 400,
            headers: vec![],
            body: b"SyntaxError: bad".to_vec(),
        }))
    })
    .unwrap_err();
    assert!(e.to_string().contains("HTTP 400: SyntaxError: bad"), "{e}");
}
