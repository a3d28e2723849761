//! The mempool in this process on a regtest chain: acceptance of independent
//! transactions (every check, scripts by the kernel, each its own cluster,
//! spending outputs of one confirmed fan-out transaction),
//! acceptance of one long chain (cluster and ancestor walks grow with it),
//! block template selection over the full pool, and the block that mines
//! them all leaving the pool empty. Run with `cargo bench --bench mempool`;
//! without `--bench` (as `cargo test --all-targets` runs it) a short smoke run.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/support/op_true.rs"]
mod op_true;

use bitcoin::{Amount, OutPoint, Transaction};
use bitcoin_mp::chain::{assemble, kernel_log, Chain, ChainOptions, SubmitOutcome};
use bitcoin_mp::mempool::{AcceptArgs, Mempool, PolicyOptions};
use op_true::{op_true, spend};

fn p2wsh() -> bitcoin::ScriptBuf {
    bitcoin::ScriptBuf::new_p2wsh(&op_true().wscript_hash())
}

const ARGS: AcceptArgs = AcceptArgs {
    local: true,
    ..AcceptArgs::FROM_PEER
};

fn submit(chain: &Chain, mut block: bitcoin::Block) {
    assert!(assemble::grind(&mut block.header, 10_000_000));
    assert_eq!(chain.submit_block(&block).unwrap(), SubmitOutcome::Accepted);
}

fn per(d: Duration, n: usize) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6 / n as f64)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (fanout, chain_len) = if full { (2000, 60) } else { (20, 5) };
    let _log = kernel_log::install(&bitcoin_mp::logging::LogConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open(&ChainOptions::regtest(dir.path().join("regtest"))).unwrap();
    let mempool = Mempool::new(PolicyOptions::core_defaults());
    chain.add_listener(mempool.clone());
    let mut coinbases = Vec::new();
    for _ in 0..102 {
        let block = assemble::new_block(&chain, p2wsh(), vec![], Amount::ZERO);
        coinbases.push(OutPoint::new(block.txdata[0].compute_txid(), 0));
        submit(&chain, block);
    }

    // One transaction fans a coinbase out; then one spend per output.
    let coin = 50 * 100_000_000u64;
    let fan = spend(&[coinbases[0]], coin, fanout, 100_000);
    let each = fan.output[0].value.to_sat();
    mempool.accept(&chain, Arc::new(fan.clone()), ARGS).unwrap();
    // Confirmed first, so that each spend below is a cluster of its own.
    submit(&chain, mempool.new_block(&chain, op_true()).block);
    assert!(mempool.lock().is_empty());
    let spends: Vec<Transaction> = (0..fanout)
        .map(|i| {
            spend(
                &[OutPoint::new(fan.compute_txid(), i as u32)],
                each,
                1,
                200 + i as u64,
            )
        })
        .collect();
    let t = Instant::now();
    for tx in &spends {
        mempool.accept(&chain, Arc::new(tx.clone()), ARGS).unwrap();
    }
    let independent = t.elapsed();

    // A chain: each transaction spends the one before (cluster limit 64).
    let mut prev = coinbases[1];
    let mut value = coin;
    let t = Instant::now();
    for _ in 0..chain_len {
        let tx = spend(&[prev], value, 1, 1000);
        value -= 1000;
        prev = OutPoint::new(tx.compute_txid(), 0);
        mempool.accept(&chain, Arc::new(tx), ARGS).unwrap();
    }
    let chained = t.elapsed();

    let t = Instant::now();
    let template = mempool.new_block(&chain, op_true());
    let select = t.elapsed();
    let in_block = template.block.txdata.len() - 1;
    let size = mempool.lock().len();
    let t = Instant::now();
    submit(&chain, template.block);
    let mined = t.elapsed();

    println!(
        "mempool bench ({} run)",
        if full { "full" } else { "smoke" }
    );
    println!(
        "  accept, independent spends: {fanout} txs in {independent:?} ({} per tx)",
        per(independent, fanout)
    );
    println!(
        "  accept, one chain of {chain_len}: {chained:?} ({} per tx)",
        per(chained, chain_len)
    );
    println!("  template over {size} txs: {select:?} ({in_block} taken)");
    println!(
        "  submitting that block (kernel validation, index, mempool removal): {mined:?}; {} left in the pool",
        mempool.lock().len()
    );
}
