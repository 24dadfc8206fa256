//! How much one incremental commit may hold.
//!
//! The kernel binds each new anonymous map of a commit (a Service chain's
//! `numgen ... vmap`) by walking the whole batch, so the cost of a commit
//! grows with the square of the new Services in it: 10,000 in one `nft -f`
//! take ~2 min, and a burst of thousands folded into one incremental commit
//! (10,000 Services created at ~1,800/s) outlasted the proxy's 60 s wait for the kernel's answer (the failed sync
//! then reloaded the whole table). Changes wait in a backlog instead and go
//! in batches of at most `MAX_SERVICES_PER_COMMIT`. So does the first load
//! into a kernel without a table (10,000 Services after a reboot); a load
//! that replaces a table takes everything at once, so it stays atomic.

use std::collections::BTreeMap;

/// Changed Services one incremental commit takes at most: a few ms of
/// batch-binding work in the kernel, against the ~100 ms every commit
/// costs at 10,000 Services.
pub const MAX_SERVICES_PER_COMMIT: usize = 500;

/// Moves `changes` into `backlog` (a newer change of a Service replaces
/// the older one) and takes the next batch: everything when `all`, else at
/// most `max` Services, in key order.
pub fn next_batch<K: Ord, V>(
    backlog: &mut BTreeMap<K, V>,
    changes: BTreeMap<K, V>,
    max: usize,
    all: bool,
) -> BTreeMap<K, V> {
    backlog.extend(changes);
    if all || backlog.len() <= max {
        return std::mem::take(backlog);
    }
    let mut queued = std::mem::take(backlog).into_iter();
    let batch: BTreeMap<K, V> = queued.by_ref().take(max).collect();
    *backlog = queued.collect();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_and_keep_the_newest_change() {
        let mut backlog: BTreeMap<u32, &str> = BTreeMap::new();
        let changes: BTreeMap<u32, &str> = (0..7).map(|i| (i, "v1")).collect();
        let first = next_batch(&mut backlog, changes, 3, false);
        assert_eq!(first.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(backlog.keys().copied().collect::<Vec<_>>(), [3, 4, 5, 6]);
        // Service 4 changed again meanwhile, and 9 is new.
        let changes = BTreeMap::from([(4, "v2"), (9, "v1")]);
        let second = next_batch(&mut backlog, changes, 3, false);
        assert_eq!(second, BTreeMap::from([(3, "v1"), (4, "v2"), (5, "v1")]));
        let third = next_batch(&mut backlog, BTreeMap::new(), 3, false);
        assert_eq!(third, BTreeMap::from([(6, "v1"), (9, "v1")]));
        assert!(backlog.is_empty());
        assert!(next_batch(&mut backlog, BTreeMap::new(), 3, false).is_empty());
    }

    #[test]
    fn a_full_load_takes_everything() {
        let mut backlog: BTreeMap<u32, u32> = (0..5).map(|i| (i, i)).collect();
        let all = next_batch(&mut backlog, BTreeMap::from([(7, 7)]), 2, true);
        assert_eq!(all.len(), 6);
        assert!(backlog.is_empty());
    }
}
