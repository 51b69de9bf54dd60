//! The Atom's web UI path, answered from the lab's page fixtures (shaped from a client's code,
//! lab/fixtures/web/baicells-atom-od06) by a scripted UI that keeps a session as the unit does.

use baicells_atom::{AtomSettings, BaicellsDriver};
use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::testing::{load_snmprec, run};
use efi_plugin_api::{
    oid, DeviceRecord, Driver, HttpResponse, IoError, IoErrorKind, IoReply, IoRequest, IoResponse,
    PluginError, Target,
};

const PAGES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../lab/fixtures/web/baicells-atom-od06/cgi-bin/"
);

fn page(file: &str) -> String {
    std::fs::read_to_string(format!("{PAGES}{file}")).unwrap()
}

fn xml(body: String) -> IoResponse {
    Ok(IoReply::Http(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: body.into_bytes(),
    }))
}

/// The UI as the driver meets it: logged out until a login with the nonce it handed out.
#[derive(Default)]
struct Ui {
    logged_in: bool,
    nonce_given: bool,
    refuse_login: bool,
    broken: Option<&'static str>,
    http_requests: Vec<String>,
}

impl Ui {
    fn answer(&mut self, req: &efi_plugin_api::HttpRequest) -> IoResponse {
        let url = req.url.as_str();
        self.http_requests.push(format!("{} {url}", req.method));
        if url.contains("Command=GetLoginState") {
            let redirect = if self.logged_in { 0 } else { 1 };
            return xml(format!(
                "<r><WebServer><Redirect>{redirect}</Redirect></WebServer></r>"
            ));
        }
        if url.contains("Command=getLoginStok") {
            self.nonce_given = true;
            return xml("<login><login_stok>n0nce</login_stok></login>".into());
        }
        if req.method == "POST" {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            assert_eq!(
                body, "Command=setLOGINvalue&input_URN={username}&rand_PWD={password}",
                "the host fills the secrets in"
            );
            assert!(req.credentials_in_form);
            assert_eq!(req.credentials.as_deref(), Some("atom-web"));
            let stok = req.headers.iter().find(|(k, _)| k == "x-stok");
            assert_eq!(stok.map(|(_, v)| v.as_str()), Some("n0nce"));
            assert!(self.nonce_given);
            if self.refuse_login {
                return xml("<login><result>1</result></login>".into());
            }
            self.logged_in = true;
            return Ok(IoReply::Http(HttpResponse {
                status: 200,
                headers: vec![("set-cookie".into(), "sessionid=1; Path=/".into())],
                body: b"<login><result>0</result></login>".to_vec(),
            }));
        }
        if !self.logged_in {
            return xml("<html><title>Login</title></html>".into());
        }
        for (cgi, command) in [
            ("systeminfo.cgi", "GetSetting"),
            ("wirelessstatus.cgi", "GetWireless"),
            ("throughput.cgi", "getThroughput"),
        ] {
            if url.contains(&format!("/cgi-bin/{cgi}?Command={command}&")) {
                if self.broken == Some(cgi) {
                    return xml("<netratelist><dl_rate>20".into());
                }
                return xml(page(&format!("{cgi}.{command}")));
            }
        }
        panic!("unexpected request {url}");
    }
}

/// MIB-II only (sysDescr, sysName): firmware without BAICELLS-MIB.
fn mib2_only() -> AgentData {
    let full = load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/atom-od04.snmprec"
    ))
    .unwrap();
    AgentData::from_varbinds(full.walk(&oid("1.3.6.1.2.1")))
}

fn driver(credentials: Option<&str>) -> BaicellsDriver {
    BaicellsDriver {
        settings: AtomSettings {
            web_credentials: credentials.map(str::to_owned),
            ..AtomSettings::default()
        },
    }
}

fn poll(
    driver: &BaicellsDriver,
    snmp: &AgentData,
    ui: &mut Ui,
) -> Result<DeviceRecord, PluginError> {
    run(
        driver.collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match req {
            IoRequest::Http(h) => ui.answer(h),
            IoRequest::Tr069 { .. } => Err(IoError::new(
                IoErrorKind::Unsupported,
                "no TR-069 data for 127.0.0.1",
            )),
            other => snmp.answer(other),
        },
    )
}

#[test]
fn the_web_ui_gives_the_radio_data_snmp_and_tr069_do_not() {
    let mut ui = Ui::default();
    let r = poll(&driver(Some("atom-web")), &mib2_only(), &mut ui).unwrap();
    assert_eq!(
        ui.http_requests.len(),
        4 + 1 + 1 + 3,
        "state + pages, nonce, login, pages: {:#?}",
        ui.http_requests
    );
    assert!(ui.http_requests[0].starts_with("GET https://127.0.0.1:443/cgi-bin/common.cgi"));
    assert_eq!(r.vendor.as_deref(), Some("Baicells"));
    assert_eq!(
        r.description.as_deref(),
        Some("Linux BaiCPE 3.18.29 #1 SMP mips"),
        "MIB-II's sysDescr kept"
    );
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000007"));
    assert_eq!(
        r.identity.imei.as_deref(),
        Some("867945040000007"),
        "trailing newline trimmed"
    );
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000107"));
    assert_eq!(r.identity.mac.as_deref(), Some("48:bf:74:00:00:07"));
    assert_eq!(r.rsrp_dbm, Some(-98.0), "mean of \"-97 / -99\"");
    assert_eq!(r.rsrq_db, Some(-11.5), "mean of \"-11/-12\"");
    assert_eq!(r.rssi_dbm, Some(-71.0));
    assert_eq!(r.sinr_db, Some(17.0));
    assert_eq!(
        (r.eci, r.enb_id, r.cell_id),
        (Some(42529), Some(166), Some(33))
    );
    assert_eq!((r.pci, r.earfcn), (Some(451), Some(43690)));
    assert_eq!(r.bandwidth_mhz, Some(20.0));
    assert_eq!(r.connected, Some(true));
    let metric = |n: &str| r.metrics.iter().find(|m| m.name == n).map(|m| m.value);
    assert_eq!(metric("tx_power_dbm"), Some(21.0));
    assert_eq!(metric("web_dl_rate_unknown_unit"), Some(2048.0));
    assert_eq!(metric("web_ul_rate_unknown_unit"), Some(512.0));
    assert_eq!(
        r.rx_rate_bps, None,
        "the pages' rate unit is not documented"
    );

    // A live session: the next poll asks the state and the pages, and does not log in.
    ui.http_requests.clear();
    let again = poll(&driver(Some("atom-web")), &mib2_only(), &mut ui).unwrap();
    assert_eq!(ui.http_requests.len(), 4, "{:#?}", ui.http_requests);
    assert_eq!(again.rsrp_dbm, Some(-98.0));
}

#[test]
fn a_broken_page_costs_only_its_own_fields() {
    let mut ui = Ui {
        broken: Some("throughput.cgi"),
        ..Ui::default()
    };
    let r = poll(&driver(Some("atom-web")), &mib2_only(), &mut ui).unwrap();
    assert_eq!(r.rsrp_dbm, Some(-98.0));
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000007"));
    assert!(
        !r.metrics.iter().any(|m| m.name.starts_with("web_dl_rate")),
        "{:?}",
        r.metrics
    );
}

#[test]
fn a_refused_login_names_the_credential_set() {
    let mut ui = Ui {
        refuse_login: true,
        ..Ui::default()
    };
    // MIB-II alone is no record of an Atom: the poll fails, saying why for each way in.
    let e = poll(&driver(Some("atom-web")), &mib2_only(), &mut ui).unwrap_err();
    assert!(e.message.contains("BAICELLS-MIB does not answer"), "{e}");
    assert!(
        e.message.contains(
            "login refused: the answer set no session cookie (is credential set \"atom-web\""
        ),
        "{e}"
    );
}

#[test]
fn without_credentials_the_web_ui_is_not_asked() {
    let mut ui = Ui::default();
    let e = poll(&driver(None), &mib2_only(), &mut ui).unwrap_err();
    assert!(
        e.message
            .contains("web UI: not used (no [drivers.baicells-atom] web_credentials)"),
        "{e}"
    );
    assert!(ui.http_requests.is_empty());
}

#[test]
fn radio_data_over_snmp_leaves_the_web_ui_alone() {
    let full = load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/atom-od04.snmprec"
    ))
    .unwrap();
    let mut ui = Ui::default();
    let r = poll(&driver(Some("atom-web")), &full, &mut ui).unwrap();
    assert_eq!(r.rsrp_dbm, Some(-96.0));
    assert!(ui.http_requests.is_empty(), "{:#?}", ui.http_requests);
}
