//! Fault test: SIGKILL of the node worker, a wallet process or the broker at
//! random points of a scripted workload (paying, mining, restarting). After
//! each kill the test restarts the node and checks that nothing it had made
//! durable is lost: the chain still holds the tip of the last clean stop,
//! the UTXO index and the wallet follow the chain, and every payment the
//! wallet acknowledged is still in the wallet. The random points come from a
//! seed the test prints (`FAULT_SEED=<n>` repeats a run).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Fee rate used when there is no estimate (20 sat/vB).
const FALLBACK: &str = "-fallbackfee=0.0002";

#[derive(Clone, Copy, Debug)]
enum Target {
    Worker,
    Wallet,
    Broker,
}

/// xorshift64*: enough to pick kill points, and repeatable from the seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("fault seed: {seed} (FAULT_SEED={seed} repeats this run)");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The last clean stop's tip: a restart must still have it in its chain.
struct Durable {
    height: u64,
    hash: Value,
}

fn durable(node: &TestNode) -> Durable {
    let height = ok(node, "getblockcount", json!([])).as_u64().unwrap();
    Durable {
        height,
        hash: ok(node, "getblockhash", json!([height])),
    }
}

/// What every restart must find.
fn check_consistent(node: &TestNode, last: &Durable, paid: &[String]) {
    let tip = ok(node, "getblockcount", json!([])).as_u64().unwrap();
    assert!(
        tip >= last.height,
        "tip {tip} below the durable {}",
        last.height
    );
    assert_eq!(
        ok(node, "getblockhash", json!([last.height])),
        last.hash,
        "the durable tip left the chain"
    );
    let set = ok(node, "gettxoutsetinfo", json!(["none"]));
    assert_eq!(set["height"].as_u64(), Some(tip), "{set}");
    let info = wok(node, "w", "getwalletinfo", json!([]));
    assert_eq!(
        info["lastprocessedblock"]["hash"],
        ok(node, "getbestblockhash", json!([])),
        "{info}"
    );
    for txid in paid {
        wok(node, "w", "gettransaction", json!([txid]));
    }
    for c in wok(node, "w", "listunspent", json!([1]))
        .as_array()
        .unwrap()
    {
        let out = ok(node, "gettxout", json!([c["txid"], c["vout"], false]));
        assert!(!out.is_null(), "wallet coin {c} is not in the UTXO set");
        assert_eq!(sats(&out["value"]), sats(&c["amount"]));
    }
}

/// Pays and mines until told to stop or the node goes away; returns the
/// payments the wallet acknowledged.
fn workload(client: RpcClient, to: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut paid = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match client.call("/wallet/w", "sendtoaddress", json!([to, 0.1])) {
            Some(Ok(txid)) => paid.push(txid.as_str().unwrap().to_string()),
            // The wallet process is gone: the node answers with an error.
            Some(Err(_)) => {}
            None => break,
        }
        if client
            .call("/", "generatetoaddress", json!([1, to]))
            .is_none()
        {
            break;
        }
    }
    paid
}

#[test]
fn sigkill_of_worker_wallet_or_broker_at_random_points_loses_nothing_durable() {
    let mut rng = Rng::from_env();
    let mut targets = [
        Target::Worker,
        Target::Wallet,
        Target::Broker,
        Target::Worker,
        Target::Wallet,
        Target::Broker,
    ];
    // Fisher-Yates with the seeded generator.
    for i in (1..targets.len()).rev() {
        targets.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut node = TestNode::start(&[FALLBACK]);
    node.create_wallet("w");
    mine_to(&node, "w", 110);
    let mut last = durable(&node);
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    let mut paid: Vec<String> = Vec::new();

    for target in targets {
        let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
        node = TestNode::start_in(datadir, &[FALLBACK, "-wallet=w"]);
        check_consistent(&node, &last, &paid);
        let to = address(&node, "w");
        let stop = Arc::new(AtomicBool::new(false));
        let load = {
            let (client, stop) = (RpcClient::of(&node), stop.clone());
            std::thread::spawn(move || workload(client, to, stop))
        };
        let delay = 200 + rng.below(1300);
        std::thread::sleep(Duration::from_millis(delay));
        let kids = node.children();
        let pid_of = |name: &str| {
            kids.iter()
                .find(|(_, n)| n == name)
                .map(|(p, _)| *p)
                .unwrap_or_else(|| panic!("no {name} child"))
        };
        eprintln!("round: SIGKILL to the {target:?} after {delay} ms");
        match target {
            Target::Worker => {
                unsafe { libc::kill(pid_of("bitcoin-node"), libc::SIGKILL) };
                assert_eq!(node.wait_exit(Duration::from_secs(30)).code(), Some(1));
            }
            Target::Wallet => {
                let wallet = pid_of("bitcoin-wallet");
                unsafe { libc::kill(wallet, libc::SIGKILL) };
                node.wait_for_log(
                    &format!("bitcoin-wallet (pid {wallet}) was killed by SIGKILL"),
                    Duration::from_secs(10),
                );
                // The node goes on; the round ends with a clean restart.
                stop.store(true, Ordering::Relaxed);
                paid.extend(load.join().unwrap());
                last = durable(&node);
                ok(&node, "stop", json!([]));
                assert!(node.wait_exit(Duration::from_secs(30)).success());
                continue;
            }
            Target::Broker => {
                unsafe { libc::kill(node.pid, libc::SIGKILL) };
                let _ = node.wait_exit(Duration::from_secs(10));
            }
        }
        // The children of a dead broker or worker end on their own.
        for (pid, name) in &kids {
            assert!(
                wait_gone(*pid, Duration::from_secs(20)),
                "{name} (pid {pid}) outlived the round"
            );
        }
        stop.store(true, Ordering::Relaxed);
        paid.extend(load.join().unwrap());
    }

    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &[FALLBACK, "-wallet=w"]);
    check_consistent(&node, &last, &paid);
    assert!(!paid.is_empty(), "the workload never paid");
    // And it goes on paying and confirming.
    mine_to(&node, "w", 101);
    let txid = wok(&node, "w", "sendtoaddress", json!([address(&node, "w"), 1]));
    mine_to(&node, "w", 1);
    assert_eq!(
        wok(&node, "w", "gettransaction", json!([txid]))["confirmations"],
        1
    );
}
