//! A work queue like client-go's: a key waiting in the queue is there once
//! however often it is added, a key is never handed to two workers at the
//! same time (adding it while it is processed queues it again for after),
//! and failed keys come back after a per-key exponential back-off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// First retry delay after a failure; doubles with every further failure.
const BASE_DELAY: Duration = Duration::from_millis(5);
/// Longest retry delay (client-go caps at 1000 s; a small cluster wants faster healing).
const MAX_DELAY: Duration = Duration::from_secs(30);

struct Inner<K> {
    queue: VecDeque<K>,
    /// Keys that need processing (queued, or re-added while processing).
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
    /// When a delayed add of each key is due (only the earliest is kept).
    timers: HashMap<K, tokio::time::Instant>,
    shut_down: bool,
}

struct Shared<K> {
    inner: Mutex<Inner<K>>,
    ready: Notify,
}

pub struct WorkQueue<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            shared: self.shared.clone(),
        }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The back-off before the `failures`-th retry (1-based).
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    BASE_DELAY.saturating_mul(1 << exp).min(MAX_DELAY)
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    pub fn new() -> Self {
        WorkQueue {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    failures: HashMap::new(),
                    timers: HashMap::new(),
                    shut_down: false,
                }),
                ready: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: K) {
        let mut q = self.lock();
        if q.shut_down || !q.dirty.insert(key.clone()) {
            return;
        }
        if q.processing.contains(&key) {
            // `done` queues it again.
            return;
        }
        q.queue.push_back(key);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Queues `key` after `delay`; an earlier pending delayed add of the
    /// same key makes this one unnecessary.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = tokio::time::Instant::now() + delay;
        {
            let mut q = self.lock();
            if q.shut_down || q.timers.get(&key).is_some_and(|due| *due <= at) {
                return;
            }
            q.timers.insert(key.clone(), at);
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            {
                let mut inner = q.lock();
                if inner.timers.get(&key) == Some(&at) {
                    inner.timers.remove(&key);
                }
            }
            q.add(key);
        });
    }

    /// Keys with a delayed add pending.
    pub fn pending_timers(&self) -> usize {
        self.lock().timers.len()
    }

    /// Queues `key` again after its back-off, which grows with each call
    /// until [`WorkQueue::forget`].
    pub fn add_rate_limited(&self, key: K) {
        let n = {
            let mut q = self.lock();
            let n = q.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(n));
    }

    /// Clears `key`'s failure count.
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Keys waiting (not counting those being processed).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next key to process; `None` once the queue is shut down. The
    /// caller must call [`WorkQueue::done`] with it.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.shared.ready.notified();
            {
                let mut q = self.lock();
                if q.shut_down {
                    return None;
                }
                if let Some(key) = q.queue.pop_front() {
                    q.dirty.remove(&key);
                    q.processing.insert(key.clone());
                    // Wake another waiter if more is queued.
                    if !q.queue.is_empty() {
                        self.shared.ready.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let mut q = self.lock();
        q.processing.remove(key);
        if q.dirty.contains(key) && !q.shut_down {
            q.queue.push_back(key.clone());
            drop(q);
            self.shared.ready.notify_one();
        }
    }

    /// Stops handing out keys; waiting `get` calls return `None`.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.shared.ready.notify_waiters();
    }
}

/// What one pass over a key asks for next.
pub type SyncResult = Result<Option<Duration>, String>;

/// Runs one worker: takes keys and calls `sync`; an error retries the key
/// after its back-off, `Ok(Some(d))` looks at it again after `d`. Each pass
/// runs as its own task, so a pass that panics is logged and retried like
/// an error instead of ending the controller.
pub async fn process<K, F, Fut>(queue: WorkQueue<K>, name: &'static str, mut sync: F)
where
    K: Clone + Eq + Hash + Send + std::fmt::Debug + 'static,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = SyncResult> + Send + 'static,
{
    while let Some(key) = queue.get().await {
        let outcome = tokio::spawn(sync(key.clone()))
            .await
            .unwrap_or_else(|e| Err(format!("the sync panicked: {e}")));
        match outcome {
            Ok(again) => {
                queue.forget(&key);
                if let Some(delay) = again {
                    queue.add_after(key.clone(), delay);
                }
            }
            Err(e) => {
                let n = queue.failures(&key);
                // Conflicts are expected under concurrent writers; only log persistent trouble.
                if n >= 3 {
                    tracing::warn!(controller = name, ?key, retries = n, "sync failed: {e}");
                } else {
                    tracing::debug!(controller = name, ?key, "sync failed: {e}");
                }
                queue.add_rate_limited(key.clone());
            }
        }
        queue.done(&key);
    }
}

/// Runs `workers` workers ([`process`]) on one queue, like a controller's
/// `--concurrent-*-syncs`: different keys are synced at the same time (so
/// their writes can share commits), one key never twice at once.
pub async fn process_concurrently<K, F, Fut>(
    queue: WorkQueue<K>,
    name: &'static str,
    workers: usize,
    sync: F,
) where
    K: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static,
    F: FnMut(K) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = SyncResult> + Send + 'static,
{
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        all.spawn(process(queue.clone(), name, sync.clone()));
    }
    while all.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(2), Duration::from_millis(10));
        assert_eq!(backoff(4), Duration::from_millis(40));
        assert_eq!(backoff(30), MAX_DELAY);
        assert_eq!(backoff(0), Duration::from_millis(5));
    }

    #[tokio::test]
    async fn deduplicates_waiting_keys() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await, Some("a"));
        assert_eq!(q.get().await, Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_added_while_processing_comes_back_after_done() {
        let q = WorkQueue::new();
        q.add("a");
        let k = q.get().await;
        assert_eq!(k, Some("a"));
        q.add("a");
        // Not handed out twice at once.
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await, Some("a"));
        q.done(&"a");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn rate_limited_keys_return_and_forget_resets() {
        let q = WorkQueue::new();
        q.add_rate_limited("a");
        q.add_rate_limited("a");
        assert_eq!(q.failures(&"a"), 2);
        let got = tokio::time::timeout(Duration::from_secs(2), q.get()).await;
        assert_eq!(got.ok().flatten(), Some("a"));
        q.done(&"a");
        q.forget(&"a");
        assert_eq!(q.failures(&"a"), 0);
    }

    #[tokio::test]
    async fn delayed_adds_arrive_later() {
        let q = WorkQueue::new();
        q.add_after("late", Duration::from_millis(30));
        assert!(q.is_empty());
        let got = tokio::time::timeout(Duration::from_secs(2), q.get()).await;
        assert_eq!(got.ok().flatten(), Some("late"));
    }

    #[tokio::test]
    async fn only_the_earliest_delayed_add_is_kept() {
        let q = WorkQueue::new();
        q.add_after("k", Duration::from_secs(600));
        q.add_after("k", Duration::from_secs(900));
        q.add_after("k", Duration::from_millis(20));
        assert_eq!(q.pending_timers(), 1);
        let got = tokio::time::timeout(Duration::from_secs(2), q.get()).await;
        assert_eq!(got.ok().flatten(), Some("k"));
        assert_eq!(q.pending_timers(), 0);
    }

    #[tokio::test]
    async fn shut_down_releases_waiters() {
        let q: WorkQueue<&str> = WorkQueue::new();
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        q.shut_down();
        let got = tokio::time::timeout(Duration::from_secs(2), waiter).await;
        assert!(matches!(got, Ok(Ok(None))));
    }

    /// A worker over `q` whose n-th pass (1-based) returns `pass(n)`;
    /// returns it with the pass counter.
    fn counting_worker(
        q: &WorkQueue<&'static str>,
        pass: fn(u32) -> SyncResult,
    ) -> (tokio::task::JoinHandle<()>, Arc<Mutex<u32>>) {
        let calls = Arc::new(Mutex::new(0));
        let worker = {
            let (q, calls) = (q.clone(), calls.clone());
            tokio::spawn(process(q, "test", move |_k| {
                let calls = calls.clone();
                async move {
                    let n = {
                        let mut n = calls.lock().map_err(|e| e.to_string())?;
                        *n += 1;
                        *n
                    };
                    pass(n)
                }
            }))
        };
        (worker, calls)
    }

    async fn wait_for_passes(calls: &Mutex<u32>, n: u32) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while *calls.lock().unwrap_or_else(|p| p.into_inner()) < n {
            assert!(tokio::time::Instant::now() < deadline, "no retries");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_panicking_pass_is_retried_and_the_worker_lives_on() {
        let q = WorkQueue::new();
        q.add("boom");
        let (worker, calls) = counting_worker(&q, |n| {
            assert!(n > 1, "the first pass panics");
            Ok(None)
        });
        wait_for_passes(&calls, 2).await;
        q.shut_down();
        assert!(worker.await.is_ok(), "the worker survives the panic");
    }

    #[tokio::test]
    async fn concurrent_workers_sync_different_keys_at_once() {
        let q: WorkQueue<u32> = WorkQueue::new();
        for k in 0..4 {
            q.add(k);
        }
        // Each pass waits until all four are in flight: one worker alone
        // would never get past the first.
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let done = Arc::new(Mutex::new(0));
        let workers = {
            let (q, barrier, done) = (q.clone(), barrier.clone(), done.clone());
            tokio::spawn(process_concurrently(q, "test", 4, move |_k| {
                let (barrier, done) = (barrier.clone(), done.clone());
                async move {
                    barrier.wait().await;
                    *done.lock().map_err(|e| e.to_string())? += 1;
                    Ok(None)
                }
            }))
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while *done.lock().unwrap_or_else(|p| p.into_inner()) < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "passes ran one at a time"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        q.shut_down();
        assert!(workers.await.is_ok());
    }

    #[tokio::test]
    async fn process_retries_failures_until_success() {
        let q = WorkQueue::new();
        q.add("k");
        let (worker, calls) = counting_worker(&q, |n| {
            if n < 3 {
                Err("not yet".to_string())
            } else {
                Ok(None)
            }
        });
        wait_for_passes(&calls, 3).await;
        q.shut_down();
        let _ = worker.await;
        assert_eq!(q.failures(&"k"), 0);
    }
}
