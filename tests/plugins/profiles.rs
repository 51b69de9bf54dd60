//! The shipped example profiles all load with the profiles plugin's own loader.

use std::path::{Path, PathBuf};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/profiles")
}

#[test]
fn every_shipped_example_profile_loads() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            let p = profiles::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            names.push(p.name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        ["baicells-atom-snmp", "baicells-atom-web", "linux-cpe"]
    );
}
