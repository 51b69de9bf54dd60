//! The threads plugin calls run on: a few (one per core, at least two) taking calls from one
//! queue, so a busy fleet's steps run back to back on warm threads instead of waking one of
//! dozens of blocking-pool threads each; a thread stuck in a hung plugin is replaced.
//!
//! Measured at 5,000 CPEs (BENCHMARKS.md): the blocking pool grew to ~47 threads at 256
//! polls in flight, and a fifth of the host's CPU was the kernel switching between them.

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A queued call, and whether its caller gave up on it (then its thread leaves once the
/// call returns: a replacement has taken its place).
struct Job {
    call: Box<dyn FnOnce() + Send>,
    abandoned: Arc<AtomicBool>,
}

/// A fixed set of threads for plugin calls. Dropping the pool lets its threads finish the
/// calls queued and exit.
pub struct StepPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads waiting for a call.
    idle: usize,
    /// The pool was dropped: finish the queue, then exit.
    closing: bool,
    /// Names threads.
    spawned: usize,
}

/// Why a call gave no result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// It did not return within its limit; its thread was replaced.
    #[error("did not return within {0:?}")]
    Hung(Duration),
    /// It panicked on the host's side, or the pool went away first.
    #[error("{0}")]
    Lost(String),
}

impl StepPool {
    /// A pool of `threads` (at least one).
    pub fn new(threads: usize) -> StepPool {
        let pool = StepPool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
        };
        for _ in 0..threads.max(1) {
            pool.spawn_thread();
        }
        pool
    }

    /// One thread per core, at least two.
    pub fn per_core() -> StepPool {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        StepPool::new(cores.max(2))
    }

    /// Runs `f` on a pool thread; resolves to what it returned, or to
    /// [`StepError::Hung`] when it has not returned within `limit` (its thread is then
    /// written off and a new one takes its place; the stuck one leaves if it ever returns).
    pub async fn run<R: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, StepError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The limit runs from when a thread takes the call, not from when it was queued: a
        // busy pool must not make a plugin look hung.
        let (began_tx, began) = tokio::sync::oneshot::channel::<()>();
        let abandoned = Arc::new(AtomicBool::new(false));
        let job = Job {
            call: Box::new(move || {
                let _ = began_tx.send(());
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                let _ = tx.send(out);
            }),
            abandoned: abandoned.clone(),
        };
        {
            let mut state = self.shared.state.lock();
            state.queue.push_back(job);
            if state.idle > 0 {
                self.shared.wake.notify_one();
            }
        }
        if began.await.is_err() {
            return Err(StepError::Lost("the plugin threads stopped".into()));
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(Ok(out))) => Ok(out),
            Ok(Ok(Err(panic))) => Err(StepError::Lost(format!(
                "host-side call panicked: {}",
                panic_message(&panic)
            ))),
            Ok(Err(_)) => Err(StepError::Lost("the plugin threads stopped".into())),
            Err(_) => {
                abandoned.store(true, Ordering::SeqCst);
                self.spawn_thread();
                Err(StepError::Hung(limit))
            }
        }
    }

    fn spawn_thread(&self) {
        let shared = self.shared.clone();
        let n = {
            let mut state = shared.state.lock();
            state.spawned += 1;
            state.spawned
        };
        let spawned = std::thread::Builder::new()
            .name(format!("efi-plugin-{n}"))
            .spawn(move || work(&shared));
        if let Err(e) = spawned {
            tracing::error!("cannot start a plugin thread: {e}");
        }
    }
}

impl Drop for StepPool {
    fn drop(&mut self) {
        self.shared.state.lock().closing = true;
        self.shared.wake.notify_all();
    }
}

/// A pool thread: the next call, until the pool closes or gives up on a call of this thread.
fn work(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.state.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                if state.closing {
                    return;
                }
                state.idle += 1;
                shared.wake.wait(&mut state);
                state.idle -= 1;
            }
        };
        (job.call)();
        if job.abandoned.load(Ordering::SeqCst) {
            // Its caller gave up on it and a new thread took its place.
            return;
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const LIMIT: Duration = Duration::from_secs(30);

    fn threads_started(pool: &StepPool) -> usize {
        pool.shared.state.lock().spawned
    }

    #[tokio::test]
    async fn runs_calls_on_its_own_threads_and_returns_their_results() {
        let pool = StepPool::new(2);
        let names: Vec<String> = futures::future::join_all((0..20).map(|i| {
            pool.run(LIMIT, move || {
                assert!(i < 20);
                std::thread::current().name().unwrap_or("").to_owned()
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert!(
            names.iter().all(|n| n.starts_with("efi-plugin-")),
            "{names:?}"
        );
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        assert!(
            distinct.len() <= 2,
            "more threads than the pool has: {distinct:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_and_the_thread_goes_on() {
        let pool = StepPool::new(1);
        let lost = pool.run(LIMIT, || panic!("boom")).await.unwrap_err();
        assert!(lost.to_string().contains("boom"), "{lost}");
        assert_eq!(pool.run(LIMIT, || 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_hung_call_is_given_up_and_its_thread_replaced() {
        let pool = StepPool::new(1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let given_up = pool
            .run(Duration::from_millis(100), move || {
                let _ = hold.recv();
            })
            .await
            .unwrap_err();
        assert!(matches!(given_up, StepError::Hung(_)), "{given_up}");
        assert_eq!(threads_started(&pool), 2, "a replacement was started");
        // The only original thread is still held; the replacement serves.
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        pool.run(LIMIT, move || r.fetch_add(1, Ordering::SeqCst))
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        // The stuck call returns; its thread leaves, the pool goes on with the replacement.
        release.send(()).unwrap();
        assert_eq!(pool.run(LIMIT, || 5).await.unwrap(), 5);
    }
}
