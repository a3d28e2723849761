//! Landlock with the best ABI the kernel offers: the policy's paths only, no
//! TCP bind/connect (ABI 4+), abstract unix sockets and signals scoped (ABI 6+).

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::policy::{Policy, Rights};
use super::SandboxError;

/// The kernel's Landlock ABI (0 when Landlock is absent or disabled).
pub fn kernel_abi() -> i32 {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION (flag 1) with no attributes only
    // queries the ABI version.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if v < 0 {
        0
    } else {
        v as i32
    }
}

/// The ABI to handle: the kernel's, capped at the newest this crate knows, so
/// that "fully enforced" means every right the kernel offers is handled.
fn target_abi() -> ABI {
    match kernel_abi() {
        ..=1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        6 => ABI::V6,
        7 => ABI::V7,
        8 => ABI::V8,
        _ => ABI::V9,
    }
}

/// What Landlock enforced.
pub struct Outcome {
    pub abi: Option<i32>,
    pub status: String,
    pub fully_enforced: bool,
}

fn err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Layer {
        layer: "landlock",
        reason: e.to_string(),
    }
}

/// Restricts this process (and threads it creates later) to `policy`.
pub fn restrict(policy: &Policy, hard: bool) -> Result<Outcome, SandboxError> {
    let level = if hard {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let abi = target_abi();
    let all_fs = AccessFs::from_all(abi);
    let read_fs = AccessFs::from_read(abi);
    let mut created = Ruleset::default()
        .set_compatibility(level)
        .handle_access(all_fs)
        .map_err(err)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(err)?
        .scope(Scope::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?;
    for rule in &policy.paths {
        let access = match rule.rights {
            Rights::ReadOnly => read_fs,
            Rights::ReadWrite => all_fs,
        };
        created = created
            .add_rules(path_beneath_rules([&rule.path], access))
            .map_err(err)?;
    }
    // No NetPort rule: with network access handled, TCP bind and connect are denied.
    let status = created.restrict_self().map_err(err)?;
    let abi = match status.landlock {
        LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        } => Some(kernel_abi.unwrap_or(effective_abi as i32)),
        _ => None,
    };
    let (text, full) = match status.ruleset {
        RulesetStatus::FullyEnforced => ("fully enforced", true),
        RulesetStatus::PartiallyEnforced => ("partially enforced", false),
        RulesetStatus::NotEnforced => ("not enforced", false),
    };
    Ok(Outcome {
        abi,
        status: text.to_string(),
        fully_enforced: full,
    })
}
