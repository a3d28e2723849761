//! Core's `Mining` and `BlockTemplate` interfaces over the worker's chain:
//! templates built by our block assembly on the active tip (coinbase paying
//! OP_TRUE, which a miner replaces through `submitSolution`), the fields a
//! miner needs to build its own coinbase (`getCoinbaseTx`,
//! `getCoinbaseMerklePath`), solutions and whole blocks handed to the kernel,
//! and tip waits on the chain's tip watch. Templates are filled from the
//! mempool by chunk feerate; a new template on `waitNext` comes with a new
//! tip only (not yet when mempool fees rise).
//! `checkBlock` runs `Chain::precheck_block`; a template's full validation
//! happens when it is submitted.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{Block, BlockHash, ScriptBuf, Transaction};
use tokio::sync::Notify;

use crate::chain::{assemble, Chain, SubmitOutcome, Tip};
use crate::ipc::debug::CallLog;
use crate::mempool::Mempool;
use crate::schema::common_capnp::block_ref;
use crate::schema::mining_capnp::{block_template, coinbase_tx, mining};

/// Longest wait honoured (Core's "forever" default is the largest double).
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

fn wait_for(seconds: f64) -> Duration {
    if seconds.is_finite() && seconds >= 0.0 && seconds < MAX_WAIT.as_secs_f64() {
        Duration::from_secs_f64(seconds)
    } else if seconds > 0.0 {
        MAX_WAIT
    } else {
        Duration::ZERO
    }
}

fn set_block_ref(mut r: block_ref::Builder<'_>, tip: Tip) {
    r.set_hash(tip.hash.as_byte_array());
    r.set_height(tip.height);
}

/// Waits until the tip is not `current`, `timeout` passes or `interrupt` fires;
/// returns the tip then.
async fn wait_tip_change(
    chain: &Chain,
    current: Option<BlockHash>,
    timeout: Duration,
    interrupt: &Notify,
) -> Tip {
    let mut watch = chain.watch_tip();
    let changed = async {
        loop {
            if Some(watch.borrow_and_update().hash) != current {
                return;
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = changed => {}
        _ = tokio::time::sleep(timeout) => {}
        _ = interrupt.notified() => {}
    }
    chain.tip()
}

/// Hands `block` to the kernel off the executor thread.
async fn submit(chain: &Arc<Chain>, block: Block) -> Result<SubmitOutcome, capnp::Error> {
    let chain = chain.clone();
    tokio::task::spawn_blocking(move || chain.submit_block(&block))
        .await
        .map_err(|e| capnp::Error::failed(format!("submit: {e}")))?
        .map_err(|e| capnp::Error::failed(format!("submit: {e}")))
}

/// Core's (reason, result) for a submitted block.
fn verdict(outcome: &SubmitOutcome) -> (&str, bool) {
    match outcome {
        SubmitOutcome::Accepted => ("", true),
        SubmitOutcome::Duplicate => ("duplicate", false),
        SubmitOutcome::DuplicateInvalid => ("duplicate-invalid", false),
        SubmitOutcome::Inconclusive => ("inconclusive", false),
        SubmitOutcome::Rejected(r) => (r.as_str(), false),
    }
}

pub struct MiningServer {
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
    log: CallLog,
    interrupt: Rc<Notify>,
}

impl MiningServer {
    /// Each id's transaction from the mempool, serialised, or empty data
    /// when it is not there.
    fn find_in_mempool(
        &self,
        ids: capnp::data_list::Reader<'_>,
        find: impl Fn(&crate::mempool::Pool, &[u8]) -> Option<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let pool = self.mempool.lock();
        ids.iter()
            .map(|id| id.ok().and_then(|b| find(&pool, b)).unwrap_or_default())
            .collect()
    }

    pub fn new(chain: Arc<Chain>, mempool: Arc<Mempool>, log: CallLog) -> MiningServer {
        MiningServer {
            chain,
            mempool,
            log,
            interrupt: Rc::new(Notify::new()),
        }
    }
}

/// Logs a call's request and its response (or error) around `body`.
macro_rules! logged {
    ($log:expr, $name:literal, $params:expr, $results:ident, $body:block) => {{
        let seq = $log.server_request($name, &$params.get()?);
        let r: Result<(), capnp::Error> = async { $body }.await;
        match &r {
            Ok(()) => $log.server_response(seq, $name, &$results.get().into_reader()),
            Err(e) => $log.server_error(seq, $name, e),
        }
        r
    }};
}

impl mining::Server for MiningServer {
    async fn is_test_chain(
        self: Rc<Self>,
        params: mining::IsTestChainParams,
        mut results: mining::IsTestChainResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.isTestChain", params, results, {
            let test = self.chain.network() != bitcoin::Network::Bitcoin;
            results.get().set_result(test);
            Ok(())
        })
    }

    async fn is_initial_block_download(
        self: Rc<Self>,
        params: mining::IsInitialBlockDownloadParams,
        mut results: mining::IsInitialBlockDownloadResults,
    ) -> Result<(), capnp::Error> {
        logged!(
            self.log,
            "Mining.isInitialBlockDownload",
            params,
            results,
            {
                results
                    .get()
                    .set_result(self.chain.initial_block_download());
                Ok(())
            }
        )
    }

    async fn get_tip(
        self: Rc<Self>,
        params: mining::GetTipParams,
        mut results: mining::GetTipResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.getTip", params, results, {
            set_block_ref(results.get().init_result(), self.chain.tip());
            results.get().set_has_result(true);
            Ok(())
        })
    }

    async fn wait_tip_changed(
        self: Rc<Self>,
        params: mining::WaitTipChangedParams,
        mut results: mining::WaitTipChangedResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.waitTipChanged", params, results, {
            let p = params.get()?;
            let current = BlockHash::from_slice(p.get_current_tip()?).ok();
            let timeout = wait_for(p.get_timeout());
            let tip = wait_tip_change(&self.chain, current, timeout, &self.interrupt).await;
            set_block_ref(results.get().init_result(), tip);
            Ok(())
        })
    }

    async fn create_new_block(
        self: Rc<Self>,
        params: mining::CreateNewBlockParams,
        mut results: mining::CreateNewBlockResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.createNewBlock", params, results, {
            let t =
                TemplateServer::build(self.chain.clone(), self.mempool.clone(), self.log.clone());
            results.get().set_result(capnp_rpc::new_client(t));
            Ok(())
        })
    }

    async fn check_block(
        self: Rc<Self>,
        params: mining::CheckBlockParams,
        mut results: mining::CheckBlockResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.checkBlock", params, results, {
            let p = params.get()?;
            let options = p.get_options()?;
            let reason = match deserialize::<Block>(p.get_block()?) {
                Err(_) => Some("bad-block-decode"),
                Ok(block) => self.chain.precheck_block(
                    &block,
                    options.get_check_merkle_root(),
                    options.get_check_pow(),
                ),
            };
            let mut r = results.get();
            r.set_reason(reason.unwrap_or(""));
            r.set_debug("");
            r.set_result(reason.is_none());
            Ok(())
        })
    }

    async fn interrupt(
        self: Rc<Self>,
        params: mining::InterruptParams,
        _results: mining::InterruptResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Mining.interrupt", &params.get()?);
        self.interrupt.notify_waiters();
        self.log.server_response(seq, "Mining.interrupt", &"()");
        Ok(())
    }

    async fn submit_block(
        self: Rc<Self>,
        params: mining::SubmitBlockParams,
        mut results: mining::SubmitBlockResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.submitBlock", params, results, {
            let block: Block = deserialize(params.get()?.get_block()?)
                .map_err(|e| capnp::Error::failed(format!("Block decode failed: {e}")))?;
            let outcome = submit(&self.chain, block).await?;
            let (reason, ok) = verdict(&outcome);
            let mut r = results.get();
            r.set_reason(reason);
            r.set_debug("");
            r.set_result(ok);
            Ok(())
        })
    }

    async fn get_transactions_by_tx_i_d(
        self: Rc<Self>,
        params: mining::GetTransactionsByTxIDParams,
        mut results: mining::GetTransactionsByTxIDResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "Mining.getTransactionsByTxID", params, results, {
            let ids = params.get()?.get_txids()?;
            let found = self.find_in_mempool(ids, |pool, id| {
                let txid = bitcoin::Txid::from_slice(id).ok()?;
                pool.get(&txid).map(|e| serialize(&*e.tx))
            });
            let mut list = results.get().init_result(found.len() as u32);
            for (i, tx) in found.iter().enumerate() {
                list.set(i as u32, tx);
            }
            Ok(())
        })
    }

    async fn get_transactions_by_witness_i_d(
        self: Rc<Self>,
        params: mining::GetTransactionsByWitnessIDParams,
        mut results: mining::GetTransactionsByWitnessIDResults,
    ) -> Result<(), capnp::Error> {
        logged!(
            self.log,
            "Mining.getTransactionsByWitnessID",
            params,
            results,
            {
                let ids = params.get()?.get_wtxids()?;
                let found = self.find_in_mempool(ids, |pool, id| {
                    let wtxid = bitcoin::Wtxid::from_slice(id).ok()?;
                    pool.by_wtxid(&wtxid).map(|e| serialize(&*e.tx))
                });
                let mut list = results.get().init_result(found.len() as u32);
                for (i, tx) in found.iter().enumerate() {
                    list.set(i as u32, tx);
                }
                Ok(())
            }
        )
    }
}

/// One block template: the block with a placeholder coinbase, and its height.
pub struct TemplateServer {
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
    /// Per transaction after the coinbase: fee and sigop cost.
    fees: Vec<i64>,
    sigops: Vec<i64>,
    log: CallLog,
    block: Block,
    height: u32,
    interrupt: Notify,
}

impl TemplateServer {
    fn build(chain: Arc<Chain>, mempool: Arc<Mempool>, log: CallLog) -> TemplateServer {
        let template = mempool.new_block(
            &chain,
            ScriptBuf::from_bytes(vec![bitcoin::opcodes::OP_TRUE.to_u8()]),
        );
        let block = template.block;
        let height = chain
            .block_info(&block.header.prev_blockhash)
            .map_or(0, |prev| prev.height as u32 + 1);
        TemplateServer {
            chain,
            mempool,
            fees: template.fees,
            sigops: template.sigops,
            log,
            block,
            height,
            interrupt: Notify::new(),
        }
    }

    fn coinbase(&self) -> &Transaction {
        &self.block.txdata[0]
    }

    /// The sibling hashes from the coinbase up to the merkle root.
    fn coinbase_merkle_path(&self) -> Vec<[u8; 32]> {
        let mut level: Vec<[u8; 32]> = self
            .block
            .txdata
            .iter()
            .map(|t| t.compute_txid().to_byte_array())
            .collect();
        let mut path = Vec::new();
        while level.len() > 1 {
            if level.len() % 2 == 1 {
                level.push(level[level.len() - 1]);
            }
            path.push(level[1]);
            level = level
                .chunks(2)
                .map(|pair| {
                    let mut both = [0u8; 64];
                    both[..32].copy_from_slice(&pair[0]);
                    both[32..].copy_from_slice(&pair[1]);
                    sha256d::Hash::hash(&both).to_byte_array()
                })
                .collect();
        }
        path
    }
}

impl block_template::Server for TemplateServer {
    async fn destroy(
        self: Rc<Self>,
        params: block_template::DestroyParams,
        _results: block_template::DestroyResults,
    ) -> Result<(), capnp::Error> {
        // The template goes when the client drops its last reference.
        let seq = self
            .log
            .server_request("BlockTemplate.destroy", &params.get()?);
        self.log
            .server_response(seq, "BlockTemplate.destroy", &"()");
        Ok(())
    }

    async fn get_block_header(
        self: Rc<Self>,
        params: block_template::GetBlockHeaderParams,
        mut results: block_template::GetBlockHeaderResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.getBlockHeader", params, results, {
            results.get().set_result(&serialize(&self.block.header));
            Ok(())
        })
    }

    async fn get_block(
        self: Rc<Self>,
        params: block_template::GetBlockParams,
        mut results: block_template::GetBlockResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.getBlock", params, results, {
            results.get().set_result(&serialize(&self.block));
            Ok(())
        })
    }

    async fn get_tx_fees(
        self: Rc<Self>,
        params: block_template::GetTxFeesParams,
        mut results: block_template::GetTxFeesResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.getTxFees", params, results, {
            // One entry per transaction after the coinbase.
            let mut list = results.get().init_result(self.fees.len() as u32);
            for (i, fee) in self.fees.iter().enumerate() {
                list.set(i as u32, *fee);
            }
            Ok(())
        })
    }

    async fn get_tx_sigops(
        self: Rc<Self>,
        params: block_template::GetTxSigopsParams,
        mut results: block_template::GetTxSigopsResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.getTxSigops", params, results, {
            let mut list = results.get().init_result(self.sigops.len() as u32);
            for (i, sigops) in self.sigops.iter().enumerate() {
                list.set(i as u32, *sigops);
            }
            Ok(())
        })
    }

    async fn get_coinbase_tx(
        self: Rc<Self>,
        params: block_template::GetCoinbaseTxParams,
        mut results: block_template::GetCoinbaseTxResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.getCoinbaseTx", params, results, {
            let cb = self.coinbase();
            let input = &cb.input[0];
            let mut out: coinbase_tx::Builder<'_> = results.get().init_result();
            out.set_version(cb.version.0 as u32);
            out.set_sequence(input.sequence.0);
            // The BIP34 height push alone; the miner adds its extra nonce.
            out.set_script_sig_prefix(assemble::bip34_prefix(self.height).as_bytes());
            out.set_witness(input.witness.nth(0).unwrap_or(&[]));
            let required: Vec<&bitcoin::TxOut> = cb
                .output
                .iter()
                .filter(|o| o.value == bitcoin::Amount::ZERO)
                .collect();
            let paid: u64 = cb.output.iter().map(|o| o.value.to_sat()).sum();
            out.set_block_reward_remaining(paid as i64);
            let mut list = out.reborrow().init_required_outputs(required.len() as u32);
            for (i, o) in required.iter().enumerate() {
                list.set(i as u32, &serialize(*o));
            }
            out.set_lock_time(cb.lock_time.to_consensus_u32());
            Ok(())
        })
    }

    async fn get_coinbase_merkle_path(
        self: Rc<Self>,
        params: block_template::GetCoinbaseMerklePathParams,
        mut results: block_template::GetCoinbaseMerklePathResults,
    ) -> Result<(), capnp::Error> {
        logged!(
            self.log,
            "BlockTemplate.getCoinbaseMerklePath",
            params,
            results,
            {
                let path = self.coinbase_merkle_path();
                let mut list = results.get().init_result(path.len() as u32);
                for (i, h) in path.iter().enumerate() {
                    list.set(i as u32, h);
                }
                Ok(())
            }
        )
    }

    async fn submit_solution(
        self: Rc<Self>,
        params: block_template::SubmitSolutionParams,
        mut results: block_template::SubmitSolutionResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.submitSolution", params, results, {
            let p = params.get()?;
            let coinbase: Transaction = deserialize(p.get_coinbase()?)
                .map_err(|e| capnp::Error::failed(format!("coinbase decode failed: {e}")))?;
            let mut block = self.block.clone();
            block.txdata[0] = coinbase;
            block.header.version = bitcoin::block::Version::from_consensus(p.get_version() as i32);
            block.header.time = p.get_timestamp();
            block.header.nonce = p.get_nonce();
            block.header.merkle_root = block
                .compute_merkle_root()
                .ok_or_else(|| capnp::Error::failed("empty block".into()))?;
            let outcome = submit(&self.chain, block).await?;
            if let SubmitOutcome::Rejected(reason) = &outcome {
                tracing::info!("BlockTemplate.submitSolution: block rejected: {reason}");
            }
            results.get().set_result(verdict(&outcome).1);
            Ok(())
        })
    }

    async fn wait_next(
        self: Rc<Self>,
        params: block_template::WaitNextParams,
        mut results: block_template::WaitNextResults,
    ) -> Result<(), capnp::Error> {
        logged!(self.log, "BlockTemplate.waitNext", params, results, {
            // Without a mempool only a new tip makes a better template; on
            // timeout or interruptWait the result stays empty, as Core's.
            let timeout = wait_for(params.get()?.get_options()?.get_timeout());
            let tip = wait_tip_change(
                &self.chain,
                Some(self.block.header.prev_blockhash),
                timeout,
                &self.interrupt,
            )
            .await;
            if tip.hash != self.block.header.prev_blockhash {
                let next = TemplateServer::build(
                    self.chain.clone(),
                    self.mempool.clone(),
                    self.log.clone(),
                );
                results.get().set_result(capnp_rpc::new_client(next));
            }
            Ok(())
        })
    }

    async fn interrupt_wait(
        self: Rc<Self>,
        params: block_template::InterruptWaitParams,
        _results: block_template::InterruptWaitResults,
    ) -> Result<(), capnp::Error> {
        let seq = self
            .log
            .server_request("BlockTemplate.interruptWait", &params.get()?);
        self.interrupt.notify_waiters();
        self.log
            .server_response(seq, "BlockTemplate.interruptWait", &"()");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_bounded_and_never_negative() {
        assert_eq!(wait_for(1.5), Duration::from_millis(1500));
        assert_eq!(wait_for(f64::MAX), MAX_WAIT);
        assert_eq!(wait_for(f64::INFINITY), MAX_WAIT);
        assert_eq!(wait_for(-3.0), Duration::ZERO);
        assert_eq!(wait_for(f64::NAN), Duration::ZERO);
    }
}
