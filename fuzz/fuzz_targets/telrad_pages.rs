//! Arbitrary CPE12300 CGI pages (the input split at 0xff bytes into the four pages) and an
//! arbitrary cached TR-069 tree (each `name=value` line of the input, under
//! `InternetGatewayDevice.`): the Telrad driver must turn them into a record or a named
//! error, never a panic.
#![no_main]

use efi_plugin_api::{HttpResponse, IoReply, Step, Target, Tr069Param};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = telrad_cpe::web::elements(&text);
    let params: Vec<Tr069Param> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(name, value)| Tr069Param {
            path: format!("InternetGatewayDevice.{name}"),
            value: value.to_owned(),
            xsd_type: None,
        })
        .collect();
    let cached = telrad_cpe::tr069::record(&params);
    let target = Target::new("127.0.0.1".parse().unwrap());
    let phase = telrad_cpe::web::WebPhase::new(
        &target,
        &telrad_cpe::TelradSettings::default(),
        None,
        None,
    );
    let responses = data
        .split(|b| *b == 0xff)
        .take(4)
        .map(|page| {
            Ok(IoReply::Http(HttpResponse {
                status: 200,
                headers: Vec::new(),
                body: page.to_vec(),
            }))
        })
        .collect();
    match phase.finish(responses, cached) {
        Step::Done(_) | Step::Failed(_) => {}
        Step::Requests(_) => panic!("the web step asks for nothing more"),
    }
});
