//! Committed events: a bounded history for watch resume plus one broadcast
//! channel per resource prefix for live fan-out.

use crate::key::Key;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Live events buffered per prefix before a slow watcher is cut off.
const CHANNEL_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventKind,
    pub key: Key,
    /// The object after the change (for deletions: its last state, carrying
    /// the deletion's resourceVersion).
    pub object: Arc<[u8]>,
    /// The object before the change, for watchers whose selector it may have
    /// entered or left.
    pub previous: Option<Arc<[u8]>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The requested resourceVersion is older than the history kept.
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld { requested: u64, oldest: u64 },
    /// The watcher fell too far behind the live stream.
    #[error("watcher fell behind")]
    Lagged,
    #[error("the store is shutting down")]
    Closed,
}

pub(crate) fn lock(m: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) struct Hub {
    current_rv: u64,
    /// Every event with a resourceVersion above `floor` is in `history`.
    floor: u64,
    history: VecDeque<Arc<Event>>,
    capacity: usize,
    channels: HashMap<String, broadcast::Sender<Arc<Event>>>,
    counts: HashMap<String, i64>,
}

impl Hub {
    pub(crate) fn new(rv: u64, capacity: usize, counts: HashMap<String, i64>) -> Hub {
        Hub {
            current_rv: rv,
            floor: rv,
            history: VecDeque::new(),
            capacity: capacity.max(1),
            channels: HashMap::new(),
            counts,
        }
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.current_rv
    }

    pub(crate) fn counts(&self) -> &HashMap<String, i64> {
        &self.counts
    }

    /// Records committed events (in resourceVersion order) and wakes watchers.
    pub(crate) fn publish(&mut self, events: Vec<Event>) {
        for event in events {
            let event = Arc::new(event);
            self.current_rv = event.rv;
            let delta = match event.kind {
                EventKind::Added => 1,
                EventKind::Deleted => -1,
                EventKind::Modified => 0,
            };
            *self.counts.entry(event.key.prefix.clone()).or_default() += delta;
            if let Some(tx) = self.channels.get(&event.key.prefix) {
                if tx.send(event.clone()).is_err() {
                    // Nobody listens to this prefix any more.
                    self.channels.remove(&event.key.prefix);
                }
            }
            self.history.push_back(event);
            while self.history.len() > self.capacity {
                if let Some(old) = self.history.pop_front() {
                    self.floor = old.rv;
                }
            }
        }
    }

    pub(crate) fn subscribe(
        &mut self,
        prefix: &str,
        namespace: Option<&str>,
        after: u64,
    ) -> Result<Watcher, WatchError> {
        if after < self.floor {
            let oldest = self
                .history
                .front()
                .map(|e| e.rv)
                .unwrap_or(self.current_rv);
            return Err(WatchError::TooOld {
                requested: after,
                oldest,
            });
        }
        let backlog: VecDeque<Arc<Event>> = self
            .history
            .iter()
            .filter(|e| e.rv > after && e.key.in_scope(prefix, namespace))
            .cloned()
            .collect();
        let rx = self
            .channels
            .entry(prefix.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Ok(Watcher {
            backlog,
            rx,
            hub: None,
            prefix: prefix.to_string(),
            namespace: namespace.map(str::to_string),
            last_rv: after,
        })
    }
}

/// A stream of events for one prefix/namespace, in resourceVersion order.
pub struct Watcher {
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    hub: Option<Arc<Mutex<Hub>>>,
    prefix: String,
    namespace: Option<String>,
    last_rv: u64,
}

impl Watcher {
    pub(crate) fn attach(&mut self, hub: Arc<Mutex<Hub>>) {
        self.hub = Some(hub);
    }

    /// The next event; waits for one.
    pub async fn next(&mut self) -> Result<Arc<Event>, WatchError> {
        if let Some(e) = self.backlog.pop_front() {
            self.last_rv = e.rv;
            return Ok(e);
        }
        loop {
            match self.rx.recv().await {
                Ok(e) => {
                    if e.rv <= self.last_rv
                        || !e.key.in_scope(&self.prefix, self.namespace.as_deref())
                    {
                        continue;
                    }
                    self.last_rv = e.rv;
                    return Ok(e);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Err(WatchError::Lagged),
                Err(broadcast::error::RecvError::Closed) => return Err(WatchError::Closed),
            }
        }
    }

    /// The resourceVersion of the last event delivered (or the start point).
    pub fn last_rv(&self) -> u64 {
        self.last_rv
    }

    /// A resourceVersion this watcher has fully caught up to, for bookmarks:
    /// the store's current one when nothing is pending for it, else the last
    /// delivered. (The hub records the current version and sends its event
    /// under one lock, so an empty queue after reading it means every event
    /// up to it was delivered or was not in scope.)
    pub fn progress_rv(&self) -> u64 {
        let Some(hub) = &self.hub else {
            return self.last_rv;
        };
        let current = lock(hub).current_rv();
        if self.backlog.is_empty() && self.rx.is_empty() {
            current.max(self.last_rv)
        } else {
            self.last_rv
        }
    }
}
