//! The broker's file policy (`broker::files::check`): which paths a
//! (possibly compromised) child may have the broker open beneath its root.
//!
//! Input: one flags byte (role, write, create, truncate), then the path (UTF-8).
//!
//! Invariants, against an independent lexical model of the path (`resolve`):
//! - never panics; only the node worker gets files, and create/truncate need write;
//! - an allowed path is non-empty, relative, at most 1024 bytes, NUL-free,
//!   resolves inside the root without ever stepping above it, and its first
//!   resolved component is not in `WORKER_DENIED`;
//! - a path whose resolution lands on a denied name is refused, whatever its
//!   spelling (`./`, `//`, `x/../`, trailing `/` or `/.`);
//! - a denied path stays refused under each of those rewritings.
#![no_main]

use bitcoin_mp::broker::files::{check, FileError, OpenRequest, WORKER_DENIED};
use bitcoin_mp::ipc::spawn::ChildRole;
use libfuzzer_sys::fuzz_target;

/// Lexical resolution beneath a root: None for an absolute path or one that
/// climbs above the root at any point (what RESOLVE_BENEATH refuses), else
/// the normal components left.
fn resolve(path: &str) -> Option<Vec<&str>> {
    if path.starts_with('/') {
        return None;
    }
    let mut out = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    Some(out)
}

fn denied_name(name: &str) -> bool {
    WORKER_DENIED.iter().any(|(n, _)| *n == name)
}

fn req(path: String, flags: u8) -> OpenRequest {
    OpenRequest {
        path,
        write: flags & 2 != 0,
        create: flags & 4 != 0,
        truncate: flags & 8 != 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let role = if flags & 1 == 0 {
        ChildRole::NodeWorker
    } else {
        ChildRole::Wallet
    };
    let r = req(path.to_string(), flags);
    let result = check(role, &r);

    if role != ChildRole::NodeWorker {
        assert!(
            matches!(result, Err(FileError::RoleHasNoFiles { .. })),
            "{result:?}"
        );
        return;
    }
    if (r.create || r.truncate) && !r.write {
        assert_eq!(result, Err(FileError::FlagsNeedWrite));
        return;
    }
    let resolved = resolve(path);
    match &result {
        Ok(()) => {
            assert!(
                !path.is_empty() && path.len() <= 1024 && !path.contains('\0'),
                "{path:?}"
            );
            let parts = resolved
                .as_ref()
                .unwrap_or_else(|| panic!("allowed {path:?} escapes the root"));
            let first = parts
                .first()
                .unwrap_or_else(|| panic!("allowed {path:?} is the root itself"));
            assert!(
                !denied_name(first),
                "allowed {path:?} reaches denied {first:?}"
            );
            assert!(
                !path.split('/').any(|p| p == ".."),
                "allowed {path:?} has a `..`"
            );
        }
        Err(FileError::Denied { .. }) | Err(FileError::NotRelative(_)) => {}
        Err(e) => panic!("unexpected refusal of {path:?}: {e}"),
    }
    if let Some(first) = resolved.as_ref().and_then(|p| p.first()) {
        if denied_name(first) {
            assert!(
                result.is_err(),
                "{path:?} resolves to denied {first:?} but is allowed"
            );
        }
    }
    if matches!(result, Err(FileError::Denied { .. })) {
        for variant in [
            format!("./{path}"),
            path.replace('/', "//"),
            format!("x/../{path}"),
            format!("{path}/"),
            format!("{path}/."),
            path.replacen('/', "/./", 1),
        ] {
            let again = check(role, &req(variant.clone(), flags));
            assert!(
                again.is_err(),
                "{path:?} is denied but {variant:?} is allowed"
            );
        }
    }
});
