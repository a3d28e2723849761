//! Debug categories changed while the process runs (Core's `logging` RPC):
//! the process-wide set that replaces the startup `-debug` set once changed,
//! and the listeners (the kernel's logger) that follow every change.

use std::collections::BTreeSet;
use std::sync::{Mutex, RwLock};

use super::categories::CATEGORIES;

/// A name Core's `logging` RPC does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown logging category {0}")]
pub struct UnknownCategory(pub String);

type Listener = Box<dyn Fn(&BTreeSet<String>) + Send + Sync>;

/// `None` until the first change: the startup configuration holds.
static ACTIVE: RwLock<Option<BTreeSet<String>>> = RwLock::new(None);
static LISTENERS: Mutex<Vec<Listener>> = Mutex::new(Vec::new());

/// The categories changed at run time, if they were.
pub fn changed_categories() -> Option<BTreeSet<String>> {
    ACTIVE.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Is `category` on: in the changed set once there is one, else in
/// `startup`.
pub fn is_active(startup: &BTreeSet<String>, category: &str) -> bool {
    match &*ACTIVE.read().unwrap_or_else(|p| p.into_inner()) {
        Some(set) => set.contains(category),
        None => startup.contains(category),
    }
}

/// Calls `f` with the active set after every change.
pub fn on_change(f: impl Fn(&BTreeSet<String>) + Send + Sync + 'static) {
    LISTENERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Box::new(f));
}

/// Core's category names for a `logging` argument: `all`, `1` or empty name
/// every category.
fn expand(name: &str) -> Result<Vec<&'static str>, UnknownCategory> {
    if name.is_empty() || name == "1" || name == "all" {
        return Ok(CATEGORIES.to_vec());
    }
    CATEGORIES
        .iter()
        .find(|c| **c == name)
        .map(|c| vec![*c])
        .ok_or_else(|| UnknownCategory(name.to_string()))
}

/// Enables `include`, then disables `exclude`, on top of `current` (the
/// startup set before the first change); returns the new set. Nothing
/// changes when a name is unknown.
pub fn update(
    current: &BTreeSet<String>,
    include: &[String],
    exclude: &[String],
) -> Result<BTreeSet<String>, UnknownCategory> {
    let mut set = changed_categories().unwrap_or_else(|| current.clone());
    for name in include {
        set.extend(expand(name)?.into_iter().map(str::to_string));
    }
    for name in exclude {
        for c in expand(name)? {
            set.remove(c);
        }
    }
    *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
    // Cached per-callsite decisions were taken under the old set.
    tracing::callsite::rebuild_interest_cache();
    for f in LISTENERS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        f(&set);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_expand_as_cores_and_unknown_ones_are_refused() {
        assert_eq!(expand("net").unwrap(), vec!["net"]);
        assert_eq!(expand("all").unwrap().len(), CATEGORIES.len());
        assert_eq!(expand("").unwrap().len(), CATEGORIES.len());
        assert_eq!(expand("none"), Err(UnknownCategory("none".into())));
        assert_eq!(expand("nosuch"), Err(UnknownCategory("nosuch".into())));
    }
}
