//! mempool/script_check: a transaction's input scripts checked as Core's
//! mempool checks them (PolicyScriptChecks), through `script_check.cpp`
//! (built by build.rs against the pinned kernel source): Core's standard
//! script flags (the kernel's C API knows the consensus ones only), Core's
//! text for the script error of the failing input, and Core's test of
//! whether the failure may come from stripped witnesses.

use std::ffi::{c_char, c_int, CStr};

use bitcoin::consensus::serialize;
use bitcoin::{Transaction, TxOut};

extern "C" {
    fn bmp_check_standard_scripts(
        tx: *const u8,
        tx_len: usize,
        spent: *const u8,
        spent_len: usize,
        only_input: i64,
        failed_input: *mut u32,
        stripped: *mut c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// An input whose script failed.
#[derive(Debug, PartialEq, Eq)]
pub struct ScriptFailure {
    /// Its index.
    pub input: usize,
    /// Core's ScriptErrorString ("Invalid OP_IF construction", ...).
    pub error: String,
    /// The transaction has no witnesses and spends a witness program, so
    /// the same txid with witnesses may pass (Core's TX_WITNESS_STRIPPED).
    pub stripped: bool,
}

/// Why the scripts could not be checked at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptCheckError {
    /// The kernel could not read the transaction or the spent outputs.
    #[error("{0}")]
    Undecodable(String),
    /// The kernel's interpreter failed.
    #[error("script check failed: {0}")]
    Failed(String),
}

/// Every input of `tx` against the output it spends (`spent`, in input
/// order), with Core's standard script flags. `Ok(None)` when all pass.
pub fn check_standard_scripts(
    tx: &Transaction,
    spent: &[TxOut],
) -> Result<Option<ScriptFailure>, ScriptCheckError> {
    check(tx, spent, -1)
}

/// Input `index` of `tx` alone, as [`check_standard_scripts`] checks each:
/// `Ok(None)` when it passes, else Core's script error text (what
/// signrawtransactionwithkey reports per input).
pub fn check_standard_input(
    tx: &Transaction,
    spent: &[TxOut],
    index: usize,
) -> Result<Option<String>, ScriptCheckError> {
    Ok(check(tx, spent, index as i64)?.map(|f| f.error))
}

fn check(
    tx: &Transaction,
    spent: &[TxOut],
    only_input: i64,
) -> Result<Option<ScriptFailure>, ScriptCheckError> {
    let tx_bytes = serialize(tx);
    let spent_bytes = serialize(&spent.to_vec());
    let mut failed_input = 0u32;
    let mut stripped: c_int = 0;
    let mut err = [0 as c_char; 256];
    // SAFETY: both buffers outlive the call and their lengths are theirs;
    // the shim writes a NUL-terminated string of at most `err.len()` bytes
    // and the two integers, and lets no exception out.
    let result = unsafe {
        bmp_check_standard_scripts(
            tx_bytes.as_ptr(),
            tx_bytes.len(),
            spent_bytes.as_ptr(),
            spent_bytes.len(),
            only_input,
            &mut failed_input,
            &mut stripped,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    // SAFETY: the shim always leaves a NUL in `err` (zeroed before it).
    let text = unsafe { CStr::from_ptr(err.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    match result {
        0 => Ok(None),
        1 => Ok(Some(ScriptFailure {
            input: failed_input as usize,
            error: text,
            stripped: stripped != 0,
        })),
        2 => Err(ScriptCheckError::Undecodable(text)),
        _ => Err(ScriptCheckError::Failed(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::opcodes::all::{OP_ENDIF, OP_IF, OP_NOP10};
    use bitcoin::opcodes::OP_TRUE;
    use bitcoin::script::Builder;
    use bitcoin::{Amount, OutPoint, ScriptBuf, TxIn, Witness};

    fn spending(script_sig: ScriptBuf, witness: Witness) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(bitcoin::Txid::from_byte_array([1; 32]), 0),
                script_sig,
                witness,
                ..Default::default()
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new_op_return([]),
            }],
        }
    }

    fn coin(script_pubkey: ScriptBuf) -> Vec<TxOut> {
        vec![TxOut {
            value: Amount::from_sat(2000),
            script_pubkey,
        }]
    }

    use bitcoin::hashes::Hash;

    #[test]
    fn scripts_are_checked_with_cores_standard_flags_and_error_texts() {
        let op_true = Builder::new().push_opcode(OP_TRUE).into_script();
        // Anyone can spend it with an empty scriptSig.
        let tx = spending(ScriptBuf::new(), Witness::new());
        assert_eq!(
            check_standard_scripts(&tx, &coin(op_true.clone())),
            Ok(None)
        );
        // An upgradable NOP passes consensus but not policy
        // (SCRIPT_VERIFY_DISCOURAGE_UPGRADABLE_NOPS), which the kernel's C
        // API could not check.
        let nop = Builder::new()
            .push_opcode(OP_NOP10)
            .push_opcode(OP_TRUE)
            .into_script();
        let failure = check_standard_scripts(&tx, &coin(nop)).unwrap().unwrap();
        assert_eq!(failure.input, 0);
        assert_eq!(failure.error, "NOPx reserved for soft-fork upgrades");
        assert!(!failure.stripped);
        // A segwit v0 script's OP_IF takes a minimal argument (policy).
        let witness_script = Builder::new()
            .push_opcode(OP_IF)
            .push_opcode(OP_TRUE)
            .push_opcode(OP_ENDIF)
            .into_script();
        let p2wsh = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
        let mut witness = Witness::new();
        witness.push([2u8]);
        witness.push(witness_script.as_bytes());
        let failure =
            check_standard_scripts(&spending(ScriptBuf::new(), witness), &coin(p2wsh.clone()))
                .unwrap()
                .unwrap();
        assert_eq!(failure.error, "OP_IF/NOTIF argument must be minimal");
        assert!(!failure.stripped);
        // The same spend without its witness may only have lost it.
        let failure =
            check_standard_scripts(&spending(ScriptBuf::new(), Witness::new()), &coin(p2wsh))
                .unwrap()
                .unwrap();
        assert_eq!(failure.error, "Witness program was passed an empty witness");
        assert!(failure.stripped);
        // Spent outputs that do not match the inputs are refused.
        assert!(matches!(
            check_standard_scripts(&tx, &[]),
            Err(ScriptCheckError::Undecodable(_))
        ));
    }
}
