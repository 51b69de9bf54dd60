//! One plugin step round trip through the ABI, against the same driver called in-process.
//!
//! Loads the freshly built `libhello_driver.so` and `libpanicky_driver.so` (built by the tests'
//! artifacts helper) and measures:
//! - `trivial_step`: one `start()` of a task that finishes at once with an empty record
//!   (panicky-driver in `ok` mode): the fixed cost of crossing the boundary;
//! - `identify`: a synchronous call with a fingerprint;
//! - `collect_start`: begin a collection and take its first step (the requests);
//! - `collect_full`: the whole hello-driver collection with answers from a recorded walk,
//!   through the ABI and in-process, so the ratio shows what the boundary costs.

use criterion::{criterion_group, criterion_main, Criterion};
use efi_plugin_api::host::{self, Library};
use efi_plugin_api::{Driver, Fingerprint, IoRequest, IoResponse, Step, Target};
use std::hint::black_box;

fn load(package: &str) -> Library {
    let path = efi_tests::artifacts::artifacts().plugin(package);
    let lib = host::open(&path, &path).expect("plugin loads");
    lib.init("").expect("plugin initialises");
    lib
}

fn answers(data: &efi_plugin_api::snmprec::AgentData, requests: &[IoRequest]) -> Vec<IoResponse> {
    requests.iter().map(|r| data.answer(r)).collect()
}

fn bench(c: &mut Criterion) {
    let target = Target::new("127.0.0.1".parse().unwrap());
    let data = efi_plugin_api::snmprec::AgentData::parse(&efi_lab::fleet::mib2_device(1)).unwrap();

    let panicky = load("panicky-driver");
    let trivial = panicky.new_driver("mode = \"ok\"").unwrap();
    let mut task = trivial.collect(&target).unwrap();
    c.bench_function("abi/trivial_step", |b| {
        b.iter(|| black_box(task.start()));
    });

    let hello_lib = load("hello-driver");
    let hello = hello_lib.new_driver("").unwrap();
    let fp = Fingerprint {
        sys_descr: Some("Linux efi-lab-cpe-1".into()),
        ..Fingerprint::default()
    };
    c.bench_function("abi/identify", |b| {
        b.iter(|| black_box(hello.identify(&fp).unwrap()))
    });
    c.bench_function("abi/collect_start", |b| {
        b.iter(|| {
            let mut t = hello.collect(&target).unwrap();
            black_box(t.start())
        })
    });

    let mut group = c.benchmark_group("collect_full");
    group.bench_function("abi", |b| {
        b.iter(|| {
            let mut t = hello.collect(&target).unwrap();
            let Step::Requests(reqs) = t.start() else {
                panic!("expected requests")
            };
            let Step::Done(rec) = t.resume(&answers(&data, &reqs)) else {
                panic!("expected a record")
            };
            black_box(rec)
        })
    });
    let in_process = hello_driver::HelloDriver::new();
    group.bench_function("in_process", |b| {
        b.iter(|| {
            let mut t = in_process.collect(&target);
            let Step::Requests(reqs) = t.start() else {
                panic!("expected requests")
            };
            let Step::Done(rec) = t.resume(answers(&data, &reqs)) else {
                panic!("expected a record")
            };
            black_box(rec)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
