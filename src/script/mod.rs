//! script/: Core's view of output scripts, built on rust-bitcoin and
//! miniscript. `address` reads address strings with Core's errors, `asm`
//! prints scripts as Core's ScriptToAsmStr does, `solver` names the standard
//! template a script matches, `descriptor` parses and expands Core's output
//! descriptors (`desc_check` gives Core's key and multisig errors), `infer`
//! names a script as a descriptor, `sign` signs a transaction's inputs with
//! given keys as Core's SignTransaction. Pure functions: no chain state, no
//! I/O (script verification is handed to `sign` by its caller).

pub mod address;
pub mod asm;
pub mod desc_check;
pub mod descriptor;
pub mod infer;
pub mod sign;
pub mod solver;
