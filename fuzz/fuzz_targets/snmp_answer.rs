//! Arbitrary datagrams on the SNMP shared sockets: the request-ID peek and the full decode
//! must never panic, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = efi_core::engines::snmp_mux::answer_request_id(data);
    let addr = "127.0.0.1:161".parse().unwrap();
    if let Ok(varbinds) = efi_core::engines::snmp::decode_answer(data, addr, b"public") {
        for vb in varbinds {
            let _ = efi_core::sonar_poller::checks::value_text(&vb.value);
        }
    }
});
