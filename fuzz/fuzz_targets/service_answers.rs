//! Arbitrary answers from the services the arbiter reads: the first byte picks Raemis'
//! REST pull, Magma's orc8r pages or Sonar's GraphQL snapshot; the rest, split at 0xff
//! bytes, are the bodies of the answers in turn (with HTTP status 200). The task must end
//! in a result or a named error, or ask for more, never panic.
#![no_main]

use efi_plugin_api::sink::Sink;
use efi_plugin_api::source::Source;
use efi_plugin_api::{HttpResponse, IoReply, Step, Task};
use libfuzzer_sys::fuzz_target;

fn drive<T>(mut task: Box<dyn Task<Output = T>>, bodies: &mut dyn Iterator<Item = &[u8]>) {
    let mut step = task.start();
    // A task may page forever on answers that always say "more": bound the steps.
    for _ in 0..64 {
        let Step::Requests(requests) = step else {
            return;
        };
        let mut responses = Vec::with_capacity(requests.len());
        for _ in &requests {
            let Some(body) = bodies.next() else { return };
            responses.push(Ok(IoReply::Http(HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_vec(),
            })));
        }
        step = task.resume(responses);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let mut bodies = rest.split(|b| *b == 0xff);
    match which % 3 {
        0 => {
            let source = raemis::RaemisSource::new(raemis::RaemisConfig {
                url: "http://127.0.0.1:1".into(),
                credentials: None,
                accept_invalid_certs: false,
                apns: vec!["internet".into()],
            });
            drive(source.poll(), &mut bodies);
        }
        1 => {
            let source = magma::MagmaSource::new(magma::MagmaConfig {
                url: "https://127.0.0.1:1/magma/v1".into(),
                credentials: "magma".into(),
                networks: vec!["lte1".into(), "lte2".into()],
                page_size: 2,
            })
            .expect("a valid config");
            drive(source.poll(), &mut bodies);
        }
        _ => {
            let config: sonar::SonarConfig = serde_json::from_value(serde_json::json!({
                "url": "http://127.0.0.1:1",
                "credentials": "sonar",
                "managed_subnets": ["10.45.0.0/16"],
                "page_size": 2,
                "default_model": "RidgeWave 6900",
            }))
            .expect("a valid config");
            let sink = sonar::SonarSink::new(config).expect("a valid config");
            drive(sink.snapshot(), &mut bodies);
        }
    }
});
