//! script/: Core's view of output scripts, built on rust-bitcoin and
//! miniscript. `solver` names the standard template a script matches,
//! `descriptor` parses and expands Core's output descriptors, `infer` names a
//! script as a descriptor, `address` decodes addresses with Core's messages.
//! Pure functions: no chain state, no I/O.

pub mod address;
pub mod descriptor;
pub mod infer;
pub mod solver;
