//! Drives a plugin task with fuzzed answers: the bodies, in turn, as HTTP 200 answers to
//! its requests, until it finishes, runs out of bodies, or has taken 64 steps (a task may
//! page forever on answers that always say "more").

use efi_plugin_api::{HttpResponse, IoReply, Step, Task};

pub fn drive<T>(mut task: Box<dyn Task<Output = T>>, data: &[u8]) {
    let mut bodies = data.split(|b| *b == 0xff);
    let mut step = task.start();
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
