//! Arbitrary bytes from a CPE (and from an ACS) through the TR-069 proxy's HTTP splitter,
//! fed in pieces of varying size, and every captured body through the CWMP reader. The
//! splitter must forward exactly the bytes it was given (the proxy never alters a
//! stream), and the reader must return a message or a named error, never panic.
#![no_main]

use efi_core::tr069::cwmp;
use efi_core::tr069::framing::{Piece, Splitter};
use libfuzzer_sys::fuzz_target;

fn run(mut splitter: Splitter, data: &[u8], step: usize) {
    let mut forwarded = Vec::new();
    for chunk in data.chunks(step) {
        for piece in splitter.feed(chunk) {
            match piece {
                Piece::Forward(bytes) => forwarded.extend_from_slice(&bytes),
                Piece::Request(request) => {
                    if let Some(body) = request.body {
                        let read = cwmp::decode_body(
                            &body,
                            request.content_type.as_deref(),
                            request.content_encoding.as_deref(),
                            1 << 20,
                        )
                        .and_then(|text| cwmp::parse(&text));
                        if let Ok(Some(cwmp::CwmpMessage::Inform(i))) = read {
                            let _ = i.device_id.genieacs_id();
                        }
                    }
                }
                Piece::Response(_) | Piece::GaveUp(_) => {}
            }
        }
    }
    // At the end of the stream, a head that never ended is forwarded too.
    if let Some(rest) = splitter.flush() {
        forwarded.extend_from_slice(&rest);
    }
    assert_eq!(forwarded, data, "the splitter changed the stream");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(first % 64) + 1;
    run(Splitter::new(None, 1 << 20), rest, step);
    run(Splitter::responses(), rest, step);
    let _ = cwmp::parse(&String::from_utf8_lossy(rest));
});
