//! sandbox/: applies a policy (caps, no_new_privs, namespaces, Landlock, seccomp) to
//! the current process. Never decides policy: that lives in `policy/`.
