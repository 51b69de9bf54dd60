//! The Baicells Atom's web UI through the host's real HTTP engine: an Atom whose firmware
//! answers MIB-II but not BAICELLS-MIB, and reports no TR-069, is identified by its sysDescr
//! and read from its HTTPS CGI pages behind the three-step stok login (efi-lab serves the
//! pages shaped from a client's code). The session cookie is kept between polls; an expired
//! session is logged in again; a broken page costs only its own fields.

use efi_core::config::Config;
use efi_lab::snmp_agent::SnmpAgent;
use efi_lab::web_device::{fixture, WebDevice};
use efi_plugin_api::Target;
use efi_tests::PluginDir;

/// An Atom at 127.0.0.1: MIB-II with the Atom's sysDescr on an SNMP agent, and its web UI.
async fn atom() -> (SnmpAgent, WebDevice) {
    let agent = efi_lab::fleet::mib2_agent_with_descr(
        "127.0.0.1:0".parse().unwrap(),
        7,
        "Linux BaiCPE 3.18.29 #1 SMP mips",
    )
    .await
    .unwrap();
    let web = WebDevice::start(
        "127.0.0.1:0".parse().unwrap(),
        &fixture("baicells-atom-od06"),
    )
    .await
    .unwrap();
    (agent, web)
}

async fn host(dir: &PluginDir, web_port: u16, password: &str) -> efi_core::host::Host {
    let text = format!(
        "[plugins]\ndir = {:?}\nrescan_secs = 0\n\
         [snmp]\ntimeout_ms = 500\nretries = 0\n\
         [http]\nallow_invalid_certs = true\n\
         [credentials.atom-web]\nusername = \"admin\"\npassword = {password:?}\n\
         [drivers.baicells-atom]\nweb_credentials = \"atom-web\"\nweb_port = {web_port}\n",
        dir.path()
    );
    let config = Config::parse(&text, std::path::Path::new("t.toml")).unwrap();
    tokio::task::spawn_blocking(move || efi_core::host::Host::new(config))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atom_is_read_from_its_web_ui_logging_in_only_when_the_session_is_gone() {
    let (agent, web) = atom().await;
    let dir = PluginDir::new();
    for p in ["hello-driver", "baicells-atom"] {
        dir.install(p);
    }
    // The fixture's password has form-special characters: the host encodes them.
    let host = host(&dir, web.addr().port(), "atom pass&1").await;
    let mut target = Target::new("127.0.0.1".parse().unwrap());
    target.snmp_port = agent.addr().port();

    let outcome = efi_core::poller::poll(&host, &target, None).await.unwrap();
    assert_eq!(outcome.driver, "baicells-atom", "by its sysDescr");
    let r = &outcome.record;
    assert_eq!(web.logins(), 1);
    assert_eq!(r.rsrp_dbm, Some(-98.0));
    assert_eq!(r.rsrq_db, Some(-11.5));
    assert_eq!(r.sinr_db, Some(17.0));
    assert_eq!((r.eci, r.pci), (Some(42529), Some(451)));
    assert_eq!(r.identity.imei.as_deref(), Some("867945040000007"));
    assert_eq!(r.identity.mac.as_deref(), Some("48:bf:74:00:00:07"));
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000007"));
    assert_eq!(
        r.description.as_deref(),
        Some("Linux BaiCPE 3.18.29 #1 SMP mips")
    );

    // The host kept the session cookie: no second login, four requests.
    let before = web.requests();
    let again = efi_core::poller::poll(&host, &target, None).await.unwrap();
    assert_eq!(again.record.rsrp_dbm, Some(-98.0));
    assert_eq!(web.logins(), 1, "the session was reused");
    assert_eq!(web.requests() - before, 4, "state check and three pages");

    // The unit forgot its sessions: GetLoginState says so, the driver logs in again.
    web.expire_sessions();
    let after_expiry = efi_core::poller::poll(&host, &target, None).await.unwrap();
    assert_eq!(web.logins(), 2);
    assert_eq!(after_expiry.record.rsrp_dbm, Some(-98.0));

    // A broken page: the record keeps what the other pages gave.
    web.break_page("cgi-bin/wirelessstatus.cgi.GetWireless");
    let partial = efi_core::poller::poll(&host, &target, None).await.unwrap();
    let r = &partial.record;
    assert_eq!(r.rsrp_dbm, None, "the wireless page is broken");
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000007"));
    assert!(
        r.metrics
            .iter()
            .any(|m| m.name == "web_dl_rate_unknown_unit" && m.value == 2048.0),
        "{:?}",
        r.metrics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_web_password_fails_the_poll_naming_the_credential_set() {
    let (agent, web) = atom().await;
    let dir = PluginDir::new();
    dir.install("baicells-atom");
    let host = host(&dir, web.addr().port(), "not-it").await;
    let mut target = Target::new("127.0.0.1".parse().unwrap());
    target.snmp_port = agent.addr().port();
    let e = efi_core::poller::poll(&host, &target, Some("baicells-atom"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("BAICELLS-MIB does not answer"), "{e}");
    assert!(
        e.contains(
            "login refused: the answer set no session cookie (is credential set \"atom-web\" right"
        ),
        "{e}"
    );
    assert_eq!(web.logins(), 0);
}
