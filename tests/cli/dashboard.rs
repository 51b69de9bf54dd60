//! The dashboard in a real browser: `efi-lab demo` (the lab fleet, the IPAM lab, an API
//! token) runs efi-poller, which serves it; headless Chromium driven over WebDriver
//! (Debian's chromium and chromium-driver, installed by tests/setup.sh) loads it, signs in
//! with the token, searches and filters the fleet, opens a device page, and reads the plan, outbox and plugins pages.
//! What the page shows is checked against what the REST API says, and no secret appears in
//! the page or in what the API gives it.

use efi_tests::artifacts::artifacts;
use efi_tests::{eventually, line_with, stdout_lines, PluginDir, Running};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Bounds each wait of this test.
const WITHIN: Duration = Duration::from_secs(60);

const TOKEN: &str = "dashboard-test-token-4f1c";

/// Starts the demo and returns it with the dashboard's base URL (`http://127.0.0.1:port`).
fn start_demo(dir: &PluginDir) -> (Running, String) {
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut child = Command::new(artifacts().lab_binary())
        .arg("demo")
        .arg("--efi-poller")
        .arg(artifacts().host_binary())
        .arg("--plugins")
        .arg(dir.path())
        .arg("--api-token-file")
        .arg(&token_file)
        // The TR-069 CPEs are tested by the demo's own tests; this page test counts the SNMP
        // fleet, and a cycle long enough that no UE comes or goes while the page is read.
        .args(["--devices", "8", "--tr069-cpes", "0", "--interval", "3600"])
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut child);
    let running = Running(child);
    let line = line_with(&lines, "dashboard: ", WITHIN);
    let base = line
        .trim_start_matches("dashboard: ")
        .split("/dashboard/")
        .next()
        .unwrap_or_default()
        .to_owned();
    (running, base)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_browser() -> (Running, Client) {
    let port = free_port();
    let driver = Running(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (tests/setup.sh installs chromium-driver)"),
    );
    let url = format!("http://127.0.0.1:{port}");
    eventually("chromedriver ready", WITHIN, || async {
        reqwest::get(format!("{url}/status"))
            .await
            .map_err(|e| e.to_string())?
            .error_for_status()
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session");
    (driver, client)
}

async fn text_of(client: &Client, css: &str) -> Result<String, String> {
    let e = client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?;
    e.text().await.map_err(|e| format!("{css}: {e}"))
}

/// The addresses of the fleet table's rows, as shown.
async fn shown_rows(client: &Client) -> Result<BTreeSet<String>, String> {
    let rows = client
        .find_all(Locator::Css("#fleet tbody tr"))
        .await
        .map_err(|e| e.to_string())?;
    let mut out = BTreeSet::new();
    for r in rows {
        if let Some(a) = r.attr("data-address").await.map_err(|e| e.to_string())? {
            out.insert(a);
        }
    }
    Ok(out)
}

async fn api(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_fleet_a_device_the_plan_and_the_plugins() {
    efi_lab::init_tls();
    let dir = PluginDir::new();
    for p in [
        "raemis",
        "sonar",
        "hello-driver",
        "bec-ridgewave",
        "baicells-atom",
        "telrad-cpe",
    ] {
        dir.install(p);
    }
    let (_demo, base) = start_demo(&dir);
    check_the_api_is_closed_and_the_page_open(&base).await;
    let devices = every_device_polled(&base).await;

    let (_driver, client) = start_browser().await;
    client.goto(&format!("{base}/dashboard/")).await.unwrap();
    sign_in_and_see_the_fleet(&client, &devices).await;
    let bec = devices
        .iter()
        .find(|d| d["driver"] == "bec-ridgewave")
        .expect("the lab fleet has a BEC RidgeWave");
    check_the_search_by_model(&client, &devices, bec).await;
    check_the_driver_filter(&client, &devices).await;
    check_the_unidentified_filter(&client, &devices).await;
    check_the_device_page(&client, &base, bec).await;
    check_the_plan_and_outbox_page(&client, &base).await;
    check_the_plugins_page(&client).await;
    check_no_secret_is_shown(&client, &base).await;

    client.close().await.unwrap();
}

/// The API is closed without the token, the page itself is not.
async fn check_the_api_is_closed_and_the_page_open(base: &str) {
    let closed = reqwest::get(format!("{base}/api/v1/devices"))
        .await
        .unwrap();
    assert_eq!(closed.status(), 401);
    let page = reqwest::get(format!("{base}/dashboard/")).await.unwrap();
    assert_eq!(page.status(), 200);
}

/// What the API says, once the demo's first cycle has polled all eight.
async fn every_device_polled(base: &str) -> Vec<Value> {
    let devices = eventually("eight devices with records", WITHIN, || async {
        let v = api(base, "/api/v1/devices").await;
        let n = v
            .as_array()
            .map_or(0, |a| a.iter().filter(|d| !d["record"].is_null()).count());
        if n == 8 {
            Ok(v)
        } else {
            Err(format!("{n} of 8 polled"))
        }
    })
    .await;
    devices.as_array().unwrap().clone()
}

/// The page asks for the token, and shows the fleet once given it.
async fn sign_in_and_see_the_fleet(client: &Client, devices: &[Value]) {
    eventually("the token form", WITHIN, || async {
        let form = client
            .find(Locator::Id("login"))
            .await
            .map_err(|e| e.to_string())?;
        if form.is_displayed().await.map_err(|e| e.to_string())? {
            Ok(())
        } else {
            Err("hidden".into())
        }
    })
    .await;
    client
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    client
        .find(Locator::Css("#login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("all eight devices listed", WITHIN, || async {
        let count = text_of(client, "#fleet-count").await?;
        if count == "8 of 8 devices" {
            Ok(())
        } else {
            Err(count)
        }
    })
    .await;
    let all: BTreeSet<String> = devices
        .iter()
        .map(|d| d["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown_rows(client).await.unwrap(), all);
    let summary = text_of(client, "#summary").await.unwrap();
    assert!(summary.contains("8 devices"), "{summary}");
}

/// Searching by a model narrows the table to the devices of that model; an empty search
/// shows everyone again.
async fn check_the_search_by_model(client: &Client, devices: &[Value], bec: &Value) {
    let model = bec["record"]["model"].as_str().unwrap().to_owned();
    let of_model: BTreeSet<String> = devices
        .iter()
        .filter(|d| d["record"]["model"].as_str() == Some(model.as_str()))
        .map(|d| d["address"].as_str().unwrap().to_owned())
        .collect();
    assert!(!of_model.is_empty() && of_model.len() < 8);
    let search = client.find(Locator::Id("search")).await.unwrap();
    search.send_keys(&model).await.unwrap();
    eventually("the search applied", WITHIN, || async {
        let rows = shown_rows(client).await?;
        if rows == of_model {
            Ok(())
        } else {
            Err(format!("{rows:?}, expected {of_model:?}"))
        }
    })
    .await;
    search.clear().await.unwrap();
    // Typing into a cleared field fires input; an empty search shows everyone again.
    search.send_keys(" ").await.unwrap();
    eventually("the search cleared", WITHIN, || async {
        let rows = shown_rows(client).await?;
        if rows.len() == 8 {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
}

/// Filtering by driver shows that driver's devices; the filter is then reset.
async fn check_the_driver_filter(client: &Client, devices: &[Value]) {
    let telrad: BTreeSet<String> = devices
        .iter()
        .filter(|d| d["driver"] == "telrad-cpe")
        .map(|d| d["address"].as_str().unwrap().to_owned())
        .collect();
    client
        .find(Locator::Css("#filter-driver option[value='telrad-cpe']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the driver filter applied", WITHIN, || async {
        let rows = shown_rows(client).await?;
        if rows == telrad {
            Ok(())
        } else {
            Err(format!("{rows:?}, expected {telrad:?}"))
        }
    })
    .await;
    client
        .find(Locator::Css("#filter-driver option[value='']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The state filter's "Unidentified": the devices only the generic MIB-II driver knows;
/// the filter is then reset.
async fn check_the_unidentified_filter(client: &Client, devices: &[Value]) {
    let unidentified: BTreeSet<String> = devices
        .iter()
        .filter(|d| d["unidentified"] == true)
        .map(|d| d["address"].as_str().unwrap().to_owned())
        .collect();
    assert!(!unidentified.is_empty(), "the demo fleet has MIB-II boxes");
    client
        .find(Locator::Css("#filter-state option[value='unidentified']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the unidentified filter applied", WITHIN, || async {
        let rows = shown_rows(client).await?;
        let table = text_of(client, "#fleet tbody").await?;
        if rows == unidentified && table.contains("(unidentified)") {
            Ok(())
        } else {
            Err(format!("{rows:?}, expected {unidentified:?}"))
        }
    })
    .await;
    client
        .find(Locator::Css("#filter-state option[value='all']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// A device's page: its fields as the API has them, and its history from the store.
async fn check_the_device_page(client: &Client, base: &str, bec: &Value) {
    let address = bec["address"].as_str().unwrap();
    client
        .find(Locator::Css(&format!(
            "#fleet tr[data-address='{address}'] a"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let title = eventually("the device page", WITHIN, || async {
        let t = text_of(client, "#device-title").await?;
        if t.contains(address) {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    assert!(title.contains("up"), "{title}");
    let fields = text_of(client, "#device-fields").await.unwrap();
    let record = &bec["record"];
    for key in ["model", "hostname"] {
        let v = record[key].as_str().unwrap();
        assert!(fields.contains(v), "{key} {v:?} not shown in:\n{fields}");
    }
    let mac = record["identity"]["mac"].as_str().unwrap();
    assert!(fields.contains(mac), "MAC {mac} not shown in:\n{fields}");
    let rsrp = record["rsrp_dbm"].as_f64().unwrap();
    assert!(
        fields.contains(&format!("{} dBm", (rsrp * 10.0).round() / 10.0)),
        "RSRP {rsrp} not shown in:\n{fields}"
    );
    eventually("history rows", WITHIN, || async {
        let rows = client
            .find_all(Locator::Css("#history tbody tr"))
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            Err("no rows yet".into())
        } else {
            Ok(())
        }
    })
    .await;
    let history = api(base, &format!("/api/v1/devices/{address}/history")).await;
    assert!(!history["points"].as_array().unwrap().is_empty());
    // Its RSRP chart, with the value axis in dBm (a device without RSRP has no such chart).
    let ticks = client
        .find_all(Locator::Css(
            "#charts figure[data-metric='rsrp_dbm'] svg text",
        ))
        .await
        .unwrap();
    let mut labels = Vec::new();
    for t in ticks {
        labels.push(t.text().await.unwrap_or_default());
    }
    assert!(
        labels.iter().any(|l| l.ends_with("dBm")),
        "the RSRP chart's axis has no dBm label: {labels:?}"
    );
}

/// The plan and outbox page: the IPAM lab's latest cycle, the outbox counts and the
/// recent plans.
async fn check_the_plan_and_outbox_page(client: &Client, base: &str) {
    client
        .find(Locator::Id("nav-plan"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let plan = eventually("the plan summary", WITHIN, || async {
        let t = text_of(client, "#plan-summary").await?;
        if t.contains("cycle at") {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    let last = api(base, "/api/v1/plan").await;
    let sessions = last["last_cycle"]["report"]["plan"]["stats"]["sessions"]
        .as_u64()
        .unwrap();
    assert!(plan.contains("sessions"), "{plan}");
    assert!(sessions > 0, "{last:#}");
    let outbox = text_of(client, "#outbox").await.unwrap();
    assert!(
        outbox.contains("Pending") && outbox.contains("Applied"),
        "{outbox}"
    );
    // The recent plans, as recorded in the outbox: the table lists plans the API knows (the
    // demo goes on planning, so the newest may be newer than the page).
    eventually("the recent plans table", WITHIN, || async {
        let table = text_of(client, "#recent-plans").await?;
        let recorded = api(base, "/api/v1/plans?limit=100").await;
        let listed = recorded["plans"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| table.contains(p["id"].as_str().unwrap()))
            .count();
        if listed > 0 && table.contains("done") {
            Ok(())
        } else {
            Err(format!("{table} vs {recorded}"))
        }
    })
    .await;
    // The lab's "Lab Spare" subscriber matches no account: the warning is listed by kind.
    let warnings = text_of(client, "#plan-warnings").await.unwrap();
    assert!(
        warnings.contains("not linked") && warnings.contains("Lab Spare"),
        "{warnings}"
    );
    // A plan's ID opens that plan: its changes with their status.
    let link = client
        .find(Locator::Css("#recent-plans tbody tr a"))
        .await
        .unwrap();
    let id = link.text().await.unwrap();
    link.click().await.unwrap();
    let title = eventually("the recorded plan", WITHIN, || async {
        let t = text_of(client, "#plan-title").await?;
        if t.contains(&id) {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    let recorded = api(base, &format!("/api/v1/plans/{id}")).await;
    let changes = recorded["changes"].as_array().unwrap();
    if let Some(first) = changes.first() {
        let table = text_of(client, "#plan-detail").await.unwrap();
        assert!(
            table.contains(first["status"].as_str().unwrap()),
            "{title}: {table}"
        );
    } else {
        let view = text_of(client, "#view").await.unwrap();
        assert!(view.contains("changed nothing"), "{view}");
    }
}

/// The plugins page lists what the demo loaded, none quarantined.
async fn check_the_plugins_page(client: &Client) {
    client
        .find(Locator::Id("nav-plugins"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let plugins = eventually("the plugins table", WITHIN, || async {
        let t = text_of(client, "#plugins").await?;
        if t.contains("bec-ridgewave") {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    for p in ["telrad-cpe", "raemis", "sonar"] {
        assert!(plugins.contains(p), "{p} missing from:\n{plugins}");
    }
    assert!(!plugins.contains("quarantined"), "{plugins}");
}

/// No secret reaches the page or the API it reads: the lab's Sonar token, its Raemis
/// Basic credentials (the password alone is also the lab source's name, so the encoded
/// pair is what is looked for), nor this host's own API token.
async fn check_no_secret_is_shown(client: &Client, base: &str) {
    let mut seen = client.source().await.unwrap();
    for path in [
        "/api/v1/status",
        "/api/v1/devices",
        "/api/v1/plan",
        "/api/v1/outbox",
        "/api/v1/plans",
        "/api/v1/plugins",
        "/api/v1/sessions",
    ] {
        seen.push_str(&api(base, path).await.to_string());
    }
    for secret in [
        "lab-token",
        "cmFlbWlzOnJhZW1pcy1sYWI",
        "raemis:raemis-lab",
        TOKEN,
    ] {
        assert!(
            !seen.contains(secret),
            "{secret:?} shown by the dashboard or its API"
        );
    }
}
