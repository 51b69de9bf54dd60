//! Arbitrary device answers through the shipped example profiles: web pages (XPath, the
//! form login's nonce), CLI output (regexes) and SNMP-free polls must give a record or a
//! named error, never a panic. The input, split at 0xff bytes, is each answer in turn.
#![no_main]

use efi_plugin_api::testing::run;
use efi_plugin_api::{CliTranscript, HttpResponse, IoReply, IoRequest, Target};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

const PROFILES: [&str; 2] = [
    include_str!("../../examples/profiles/linux-cpe.toml"),
    include_str!("../../examples/profiles/baicells-atom-web.toml"),
];

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let target = Target::new("127.0.0.1".parse().unwrap());
    for text in PROFILES {
        let profile = profiles::profile::compile(text, std::path::Path::new("p.toml"))
            .expect("the shipped examples compile");
        let task = profiles::collect::ProfileTask::new(profiles::collect::Collect::new(
            Arc::new(profile),
            &target,
        ));
        let mut n = 0;
        let _ = run(Box::new(task), |req| {
            let part = parts.get(n % parts.len()).copied().unwrap_or_default();
            n += 1;
            match req {
                IoRequest::Http(_) => Ok(IoReply::Http(HttpResponse {
                    status: 200,
                    headers: vec![("set-cookie".into(), "s=1".into())],
                    body: part.to_vec(),
                })),
                IoRequest::Cli(c) => Ok(IoReply::Cli(CliTranscript {
                    outputs: (0..c.steps.len())
                        .map(|i| {
                            String::from_utf8_lossy(parts.get(i % parts.len()).copied().unwrap_or_default())
                                .into_owned()
                        })
                        .collect(),
                })),
                _ => Err(efi_plugin_api::IoError::new(
                    efi_plugin_api::IoErrorKind::Unsupported,
                    "not in this target",
                )),
            }
        });
    }
});
