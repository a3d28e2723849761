//! no_new_privs and dropping every capability set.

use caps::CapSet;

/// `PR_SET_NO_NEW_PRIVS`: execve can never grant more rights.
pub fn set_no_new_privs() -> std::io::Result<()> {
    // SAFETY: a prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Clears bounding, ambient, inheritable, effective and permitted sets (in an
/// order that keeps CAP_SETPCAP until the bounding set is empty).
pub fn drop_all_capabilities() -> Result<(), caps::errors::CapsError> {
    let has_setpcap =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false);
    if has_setpcap {
        caps::clear(None, CapSet::Bounding)?;
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    caps::clear(None, CapSet::Effective)?;
    caps::clear(None, CapSet::Permitted)?;
    // Without CAP_SETPCAP the bounding set stays, but with no permitted or
    // effective capabilities and no_new_privs it can never be used.
    Ok(())
}
