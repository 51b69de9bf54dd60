//! The store over TLS: a private PostgreSQL cluster started here with a certificate from a
//! CA made at test time (initdb and pg_ctl as the `postgres` user; the suite runs as root,
//! as CI does), the store's suite run on it with `verify-full`, and each way TLS can be
//! wrong refused with a clear error.

use crate::suite::{self, Scratch};
use efi_core::config::PgSslMode;
use efi_core::store::Store;
use efi_lab::pki::TestPki;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server on 127.0.0.1 with `ssl = on`, stopped when dropped.
struct TlsPostgres {
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The directory of this machine's PostgreSQL server programs (`initdb`, `pg_ctl`).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs under /usr/lib/postgresql (tests/setup.sh)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// Runs `program args` as the `postgres` user; panics with its output when it fails.
fn as_postgres(program: &Path, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser (the store's TLS test runs as root)");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsPostgres {
    fn start(pki: &TestPki) -> TlsPostgres {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let owner = |path: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let out = Command::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        owner(&data, 0o700);
        let bin = postgres_bin();
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        // Every loopback address may connect (the name-check case dials 127.0.0.2).
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).unwrap();
        rules.push_str("\nhost all all 127.0.0.0/8 trust\n");
        std::fs::write(&hba, rules).unwrap();
        for (name, pem, mode) in [
            ("server.crt", &pki.server.cert_pem, 0o644),
            ("server.key", &pki.server.key_pem, 0o600),
        ] {
            std::fs::write(data.join(name), pem).unwrap();
            owner(&data.join(name), mode);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1,127.0.0.2 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c fsync=off",
            data.display()
        );
        let log = data.join("server.log");
        as_postgres(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        TlsPostgres {
            data,
            bin,
            port,
            _dir: dir,
        }
    }

    fn url(&self, host: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres", self.port)
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

/// A scratch schema on `server` reached as `host`, with `sslmode` and `ca_file`.
fn scratch(
    server: &TlsPostgres,
    host: &str,
    mode: Option<PgSslMode>,
    ca: Option<&Path>,
) -> Scratch {
    let mut s = Scratch::postgres_at(server.url(host));
    s.config.sslmode = mode;
    s.config.ca_file = ca.map(Path::to_path_buf);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_over_tls_verifies_the_server_and_names_what_is_wrong() {
    efi_lab::init_tls();
    let (pki, stranger) = (
        TestPki::generate("database CA"),
        TestPki::generate("another CA"),
    );
    let server = TlsPostgres::start(&pki);
    let cas = tempfile::tempdir().unwrap();
    let (ca, wrong_ca) = (cas.path().join("ca.pem"), cas.path().join("wrong-ca.pem"));
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&wrong_ca, &stranger.ca_pem).unwrap();

    // The suite's cases over verify-full.
    let full = Some(PgSslMode::VerifyFull);
    suite::latest_state_round_trips_and_forget_keeps_history(scratch(
        &server,
        "127.0.0.1",
        full,
        Some(&ca),
    ))
    .await;
    suite::a_plan_survives_a_crash_is_superseded_and_its_outcome_is_kept(scratch(
        &server,
        "127.0.0.1",
        full,
        Some(&ca),
    ))
    .await;
    suite::the_tr069_cache_outlives_a_restart_and_is_shared_by_a_cluster(scratch(
        &server,
        "localhost",
        full,
        Some(&ca),
    ))
    .await;

    // Every way it can be wrong, refused before anything is read or written.
    let refused = |s: Scratch| async move {
        match Store::open(&s.config).await {
            Ok(_) => panic!("opened with {:?} {:?}", s.config.sslmode, s.config.ca_file),
            Err(e) => e.to_string(),
        }
    };
    let e = refused(scratch(&server, "127.0.0.1", full, Some(&wrong_ca))).await;
    assert!(
        e.contains("connecting over TLS")
            && e.contains("certificate")
            && e.contains("UnknownIssuer"),
        "{e}"
    );
    let e = refused(scratch(&server, "127.0.0.1", full, None)).await;
    assert!(e.contains("needs store.ca_file"), "{e}");
    // Issued for 127.0.0.1, localhost and ::1, not for this loopback address: verify-full
    // refuses it, verify-ca (the chain only) takes it.
    let e = refused(scratch(&server, "127.0.0.2", full, Some(&ca))).await;
    assert!(e.contains("not valid for name \"127.0.0.2\""), "{e}");
    let by_chain = scratch(&server, "127.0.0.2", Some(PgSslMode::VerifyCa), Some(&ca));
    Store::open(&by_chain.config).await.unwrap();
    let encrypted = scratch(&server, "127.0.0.1", Some(PgSslMode::Require), None);
    Store::open(&encrypted.config).await.unwrap();
}
