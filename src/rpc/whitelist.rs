//! -rpcwhitelist and -rpcwhitelistdefault, as Core's httprpc.cpp applies
//! them: `USER:method,method...` limits USER to those methods (several entries
//! for one user intersect; `USER` alone or `USER:` allows nothing), and when
//! -rpcwhitelistdefault is on (its default whenever a -rpcwhitelist is given)
//! users without an entry may call nothing. A refused call is answered with
//! HTTP 403 by the server.

use std::collections::{BTreeSet, HashMap};

/// Who may call what.
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    users: HashMap<String, BTreeSet<String>>,
    deny_unlisted: bool,
}

impl Whitelist {
    /// From the -rpcwhitelist entries and -rpcwhitelistdefault (None: unset).
    pub fn new(entries: &[String], default: Option<bool>) -> Whitelist {
        let mut users: HashMap<String, BTreeSet<String>> = HashMap::new();
        for entry in entries {
            let (user, methods) = match entry.split_once(':') {
                Some((u, m)) => (u, Some(m)),
                None => (entry.as_str(), None),
            };
            let seen = users.contains_key(user);
            let list = users.entry(user.to_string()).or_default();
            // Core's SplitString on ", ": either character separates.
            if let Some(methods) = methods {
                let new: BTreeSet<String> = methods.split([',', ' ']).map(str::to_string).collect();
                *list = if seen {
                    new.intersection(list).cloned().collect()
                } else {
                    new
                };
            }
        }
        Whitelist {
            deny_unlisted: default.unwrap_or(!entries.is_empty()),
            users,
        }
    }

    /// May `user` call anything at all? (Core answers 403 before parsing.)
    pub fn user_may_call(&self, user: &str) -> bool {
        self.users.contains_key(user) || !self.deny_unlisted
    }

    /// May `user` call `method`?
    pub fn allows(&self, user: &str, method: &str) -> bool {
        match self.users.get(user) {
            Some(list) => list.contains(method),
            None => !self.deny_unlisted,
        }
    }

    /// Does `user` have an entry (so batches are checked call by call)?
    pub fn lists(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str], default: Option<bool>) -> Whitelist {
        let e: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        Whitelist::new(&e, default)
    }

    #[test]
    fn nothing_given_allows_everyone_everything() {
        let w = list(&[], None);
        assert!(w.user_may_call("__cookie__") && w.allows("__cookie__", "stop"));
    }

    #[test]
    fn entries_limit_their_user_and_deny_others_by_default() {
        let w = list(&["alice:getblockcount,getbestblockhash"], None);
        assert!(w.allows("alice", "getblockcount"));
        assert!(w.allows("alice", "getbestblockhash"));
        assert!(!w.allows("alice", "stop"));
        assert!(!w.user_may_call("bob") && !w.allows("bob", "getblockcount"));
        // -rpcwhitelistdefault=0 lets unlisted users call everything.
        let w = list(&["alice:getblockcount"], Some(false));
        assert!(w.allows("bob", "stop") && !w.allows("alice", "stop"));
    }

    #[test]
    fn several_entries_for_one_user_intersect_and_bare_user_allows_nothing() {
        let w = list(
            &["a:getblockcount,getblockhash", "a:getblockhash stop"],
            None,
        );
        assert!(w.allows("a", "getblockhash"));
        assert!(!w.allows("a", "getblockcount") && !w.allows("a", "stop"));
        let w = list(&["a"], None);
        assert!(w.user_may_call("a") && !w.allows("a", "getblockcount"));
        let w = list(&["a:"], None);
        assert!(!w.allows("a", "getblockcount"));
    }

    #[test]
    fn whitelistdefault_alone_denies_everyone() {
        let w = list(&[], Some(true));
        assert!(!w.user_may_call("__cookie__"));
    }
}
