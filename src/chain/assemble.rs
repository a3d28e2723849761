//! Block assembly the way Core's BlockAssembler builds a block on the active
//! tip: a BIP34 coinbase paying subsidy plus fees to the given script, locked
//! to the previous height, with the segwit witness commitment; Core's time and
//! difficulty rules; and the nonce search `generate*` does.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

use super::Chain;

/// Version bits' top bits (Core's VERSIONBITS_TOP_BITS); deployment signals
/// are added by `Chain::next_block_version`.
pub const BLOCK_VERSION: i32 = 0x2000_0000;
/// Witness commitment header (BIP141).
const COMMITMENT_HEADER: [u8; 4] = [0xaa, 0x21, 0xa9, 0xed];

/// The subsidy at `height` (halving every `interval` blocks).
pub fn subsidy(height: u32, interval: u32) -> Amount {
    let halvings = height / interval;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000u64) >> halvings)
}

/// Blocks between halvings (Core's nSubsidyHalvingInterval).
pub fn halving_interval(network: bitcoin::Network) -> u32 {
    match network {
        bitcoin::Network::Regtest => 150,
        _ => 210_000,
    }
}

/// The height as Core's `CScript() << height` (OP_1..OP_16 for small ones):
/// what a coinbase scriptSig must start with (BIP34).
pub fn bip34_prefix(height: u32) -> ScriptBuf {
    Builder::new().push_int(height as i64).into_script()
}

/// The coinbase of a block at `height` (without its witness commitment).
pub fn coinbase(height: u32, script: ScriptBuf, reward: Amount) -> Transaction {
    let mut script_sig = Builder::new().push_int(height as i64);
    if height <= 16 {
        // The height alone is one byte; coinbase scriptSigs need two.
        script_sig = script_sig.push_opcode(bitcoin::opcodes::OP_0);
    }
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(height.saturating_sub(1)),
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: script_sig.into_script(),
            sequence: Sequence::ENABLE_LOCKTIME_NO_RBF,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: reward,
            script_pubkey: script,
        }],
    }
}

/// Core's UpdateUncommittedBlockStructures (what submitblock does first): a
/// block that commits to its witnesses, once segwit is in force, gets the
/// zero witness reserved value in its coinbase if it has no witness there.
pub fn fill_witness_nonce(chain: &Chain, block: &mut Block) {
    let Some(prev) = chain.block_info(&block.header.prev_blockhash) else {
        return;
    };
    let segwit = super::deployments::buried_active(chain.network(), "segwit", prev.height + 1);
    let Some(coinbase) = block.txdata.first_mut() else {
        return;
    };
    if segwit
        && commits_to_witnesses(coinbase)
        && coinbase.input.first().is_some_and(|i| i.witness.is_empty())
    {
        coinbase.input[0].witness = Witness::from_slice(&[[0u8; 32]]);
    }
}

/// Whether `coinbase` has a witness commitment output (BIP141: OP_RETURN,
/// a 36-byte push starting with the commitment header).
pub fn commits_to_witnesses(coinbase: &Transaction) -> bool {
    coinbase.output.iter().any(|o| {
        let b = o.script_pubkey.as_bytes();
        b.len() >= 38 && b[..2] == [0x6a, 0x24] && b[2..6] == COMMITMENT_HEADER
    })
}

/// Adds the witness commitment output to `block`'s coinbase and, with
/// `segwit` (in force at the block's height), the witness reserved value
/// (Core's UpdateUncommittedBlockStructures: a witness before segwit is
/// "unexpected-witness"; the commitment output is there either way).
pub fn add_witness_commitment(block: &mut Block, segwit: bool) {
    let reserved = [0u8; 32];
    if segwit {
        block.txdata[0].input[0].witness = Witness::from_slice(&[reserved]);
    }
    let Some(root) = block.witness_root() else {
        return;
    };
    let commitment = Block::compute_witness_commitment(&root, &reserved);
    let mut data = COMMITMENT_HEADER.to_vec();
    data.extend_from_slice(commitment.as_byte_array());
    let push = bitcoin::script::PushBytesBuf::try_from(data).unwrap_or_default();
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: Builder::new()
            .push_opcode(bitcoin::opcodes::all::OP_RETURN)
            .push_slice(push)
            .into_script(),
    });
}

/// A template on the current tip paying to `script`, with `txs` after the
/// coinbase (their fees in `fees`). The header's nonce is 0.
pub fn new_block(chain: &Chain, script: ScriptBuf, txs: Vec<Transaction>, fees: Amount) -> Block {
    let tip = chain.tip();
    let height = (tip.height + 1) as u32;
    let prev = chain.block_info(&tip.hash);
    let (prev_bits, prev_time) = prev
        .as_ref()
        .map(|p| (p.header.bits, p.header.time))
        .unwrap_or((CompactTarget::from_consensus(0x207fffff), 0));
    let now = super::clock::now() as u32;
    let time = now.max(minimum_time(chain, &tip.hash, height, prev_time));
    let bits = next_bits(chain, height, prev_bits, prev_time);
    let reward = subsidy(height, halving_interval(chain.network())) + fees;
    let mut txdata = vec![coinbase(height, script, reward)];
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(chain.next_block_version(&tip.hash)),
            prev_blockhash: tip.hash,
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time,
            bits,
            nonce: 0,
        },
        txdata,
    };
    let segwit = super::deployments::buried_active(chain.network(), "segwit", height as i32);
    add_witness_commitment(&mut block, segwit);
    block.header.merkle_root = block
        .compute_merkle_root()
        .unwrap_or_else(bitcoin::TxMerkleNode::all_zeros);
    block
}

/// Core's MAX_TIMEWARP: how far (seconds) a retarget block may be before
/// its parent under BIP94.
pub const MAX_TIMEWARP: u32 = 600;

/// Core's GetMinimumTime for the block at `height` on `prev`: past the
/// median time past, and at a retarget height no more than 600 s (BIP94's
/// MAX_TIMEWARP) before its parent, on every network.
pub fn minimum_time(chain: &Chain, prev: &bitcoin::BlockHash, height: u32, prev_time: u32) -> u32 {
    let mut min = chain.median_time_past(prev).unwrap_or(prev_time) + 1;
    let interval = chain.params().difficulty_adjustment_interval() as u32;
    if height.is_multiple_of(interval) {
        min = min.max(prev_time.saturating_sub(MAX_TIMEWARP));
    }
    min
}

/// Difficulty of the next block (Core's GetNextWorkRequired without the
/// testnet minimum-difficulty exception).
pub fn next_bits(
    chain: &Chain,
    height: u32,
    prev_bits: CompactTarget,
    prev_time: u32,
) -> CompactTarget {
    let params = chain.params();
    let interval = params.difficulty_adjustment_interval() as u32;
    if params.no_pow_retargeting || !height.is_multiple_of(interval) {
        return prev_bits;
    }
    let first = chain
        .block_at((height - interval) as i32)
        .map(|b| b.header.time)
        .unwrap_or(prev_time);
    CompactTarget::from_next_work_required(
        prev_bits,
        u64::from(prev_time.saturating_sub(first)),
        &params,
    )
}

/// Searches nonces until the header meets its target; false after `max_tries`.
pub fn grind(header: &mut Header, max_tries: u64) -> bool {
    let target = header.target();
    let mut tries = 0u64;
    while tries < max_tries {
        if target.is_met_by(header.block_hash()) {
            return true;
        }
        tries += 1;
        header.nonce = header.nonce.wrapping_add(1);
        if header.nonce == 0 {
            header.time += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_halves_as_cores() {
        assert_eq!(subsidy(1, 150), Amount::from_btc(50.0).unwrap());
        assert_eq!(subsidy(150, 150), Amount::from_btc(25.0).unwrap());
        assert_eq!(subsidy(64 * 150, 150), Amount::ZERO);
    }

    #[test]
    fn coinbase_commits_to_height_and_is_two_bytes_long_at_least() {
        let cb = coinbase(1, ScriptBuf::new(), Amount::ONE_BTC);
        assert_eq!(cb.input[0].script_sig.as_bytes(), &[0x51, 0x00]);
        assert_eq!(cb.lock_time, LockTime::from_consensus(0));
        let cb = coinbase(300, ScriptBuf::new(), Amount::ONE_BTC);
        assert_eq!(cb.input[0].script_sig.as_bytes(), &[0x02, 0x2c, 0x01]);
        assert_eq!(cb.input[0].sequence, Sequence(0xffff_fffe));
    }
}
