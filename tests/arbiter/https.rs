//! The listener over HTTPS (`[server.tls]`), with a CA made at test time: webhooks and the API
//! served over TLS, plain HTTP on the port refused, a certificate replaced on disk served
//! without a restart, and the webhook route requiring a client certificate while the API
//! does not.

use crate::ipam::{lab_full, WEBHOOK};
use efi_core::server::Listener;
use efi_lab::pki::TestPki;
use efi_lab::sonar::scenario::Scenario;
use std::time::Duration;

/// An HTTPS client trusting `ca_pem`, presenting `identity` when given.
fn client(ca_pem: &str, identity: Option<&efi_lab::pki::Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10));
    if let Some(id) = identity {
        builder =
            builder.identity(reqwest::Identity::from_pem(id.bundle_pem().as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_the_api_over_https_with_a_renewed_certificate_and_client_certificates() {
    efi_lab::init_tls();
    let (first, renewed) = (
        TestPki::generate("first CA"),
        TestPki::generate("renewed CA"),
    );
    let files = tempfile::tempdir().unwrap();
    let (cert, key, clients) = (
        files.path().join("cert.pem"),
        files.path().join("key.pem"),
        files.path().join("clients.pem"),
    );
    std::fs::write(&cert, &first.server.cert_pem).unwrap();
    std::fs::write(&key, &first.server.key_pem).unwrap();
    std::fs::write(&clients, &first.ca_pem).unwrap();
    let tls = format!(
        "{WEBHOOK}\n[server.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\nclient_ca_file = {clients:?}\nclient_certificate_for = [\"webhooks\"]\n"
    );
    let lab = lab_full(Scenario::lab(), &tls).await;
    let app = efi_core::server::router(lab.arbiter.clone(), lab.config.clone(), Default::default());
    let listener = Listener::start_with(
        app,
        "127.0.0.1:0".parse().unwrap(),
        lab.config.server.tls.as_ref(),
    )
    .await
    .unwrap();
    let base = format!("https://127.0.0.1:{}", listener.addr().port());
    let form = "imsi=001010000000011&event_type=pdp_context_activated&add_text=%7B%22ip%22%3A%2210.45.0.10%22%7D";
    let push = |c: &reqwest::Client| {
        c.post(format!("{base}/webhooks/raemis-lab"))
            .header("x-efi-secret", "push-s3cret")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };

    // The API over HTTPS, no client certificate needed there.
    let anonymous = client(&first.ca_pem, None);
    let r = anonymous
        .get(format!("{base}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The webhook route requires one: refused without, accepted with.
    let r = push(&anonymous).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("client certificate"));
    let epc = client(&first.ca_pem, Some(&first.client("raemis")));
    let r = push(&epc).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    // A certificate from another CA is refused in the handshake.
    let stranger = client(&first.ca_pem, Some(&renewed.client("raemis")));
    assert!(
        push(&stranger).await.is_err(),
        "an untrusted client certificate"
    );

    // Plain HTTP on the HTTPS port: answered 400, saying why.
    let plain = reqwest::get(format!(
        "http://127.0.0.1:{}/api/v1/status",
        listener.addr().port()
    ))
    .await
    .unwrap();
    assert_eq!(plain.status().as_u16(), 400);
    assert!(plain.text().await.unwrap().contains("HTTPS only"));

    // The certificate renewed on disk: served without a restart.
    let trusts_renewed = client(&renewed.ca_pem, None);
    assert!(trusts_renewed
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_err());
    std::fs::write(&key, &renewed.server.key_pem).unwrap();
    std::fs::write(&cert, &renewed.server.cert_pem).unwrap();
    efi_tests::eventually(
        "the renewed certificate served",
        Duration::from_secs(15),
        || async {
            match trusts_renewed.get(format!("{base}/healthz")).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    listener.stop().await;
}
