//! node/: the sandboxed node worker. Opens the chain, serves JSON-RPC on the
//! sockets the broker bound (`methods`: the RPC method table) and `Init` on the
//! connections the broker hands it, with Core's `Rpc` and `Mining` interfaces
//! (`ipc`). Never opens listening sockets or spawns processes itself: wallets
//! are started by the broker on its request.

pub mod ipc;
pub mod mempool_file;
pub mod methods;
pub mod peers_file;
pub mod wallets;

use std::rc::Rc;
use std::sync::Arc;

use crate::broker::client::BrokerClient;
use crate::chain::deployments::TestParams;
use crate::chain::prune::PruneOptions;
use crate::chain::{kernel_log, manager_options, Chain, ChainError, ChainOptions};
use crate::config::Config;
use crate::ipc::child;
use crate::ipc::spawn::ChildRole;
use crate::logging::LogConfig;
use crate::mempool::{Mempool, PolicyOptions};
use crate::rpc::auth::Auth;
use crate::rpc::http::{self, Dispatcher, ServerOptions, Subnet};
use crate::rpc::whitelist::Whitelist;
use ipc::NodeIpc;
use methods::{Methods, NodeCtx};

/// Entry point of `bitcoin-node -ipcrole=worker ...` (argv without argv[0]).
pub fn worker_main(args: &[String]) -> i32 {
    child::run(
        ChildRole::NodeWorker,
        args,
        |broker, config, interfaces, mut stopping| async move {
            let log_config = LogConfig::from_config(&config).map_err(|e| e.to_string())?;
            // Declared before the chain so that it outlives it.
            let kernel_log = Rc::new(kernel_log::install(&log_config).map_err(|e| e.to_string())?);
            let chain = open_chain(&config).await?;
            let fatal_chain = chain.clone();
            let mempool = Mempool::new(PolicyOptions::from_config(&config)?);
            chain.add_listener(mempool.clone());
            let persist_mempool = mempool.options().persist;
            if persist_mempool {
                mempool_file::load(&broker, &chain, &mempool).await;
            } else {
                mempool.set_loaded();
            }
            let wallets = if config.get_bool("disablewallet", false) {
                None
            } else {
                let hub = ipc::chain::ChainHub::start(&chain, &mempool);
                Some(wallets::Wallets::new(
                    broker.clone(),
                    chain.clone(),
                    mempool.clone(),
                    hub,
                ))
            };
            let stop = Rc::new(tokio::sync::Notify::new());
            let net = start_p2p(&broker, &config, &chain, &mempool).await?;
            let ctx = Rc::new(NodeCtx {
                chain: chain.clone(),
                started: std::time::Instant::now(),
                stop: stop.clone(),
                log_path: log_config
                    .debug_log_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                active: Default::default(),
                log_config: log_config.clone(),
                kernel_log: Some(kernel_log.clone()),
                net: Some(net.clone()),
                mempool: mempool.clone(),
                broker: Some(broker.clone()),
                net_dir: config.net_dir(),
                deprecated_rpc: config.get_all("deprecatedrpc"),
                wallets: wallets.clone(),
            });
            let methods: Rc<dyn Dispatcher> = Rc::new(Methods::new(ctx));
            if let Some(w) = &wallets {
                w.set_dispatcher(&methods);
                load_startup_wallets(w, &config).await?;
            }
            let whitelist = Rc::new(Whitelist::new(
                &config.get_all("rpcwhitelist"),
                config
                    .get("rpcwhitelistdefault")
                    .map(|_| config.get_bool("rpcwhitelistdefault", false)),
            ));
            // From here on Init.makeRpc, makeMining and makeNode are served.
            let (closing, closing_rx) = tokio::sync::watch::channel(false);
            *interfaces.borrow_mut() = Some(Rc::new(NodeIpc {
                chain,
                mempool: mempool.clone(),
                dispatcher: methods.clone(),
                whitelist: whitelist.clone(),
                wallets: wallets.as_ref().map(Rc::downgrade),
                net_dir: config.net_dir(),
                started: time::OffsetDateTime::now_utc().unix_timestamp(),
                closing: closing_rx,
            }));
            // `stop` (over HTTP or IPC) asks the broker to stop the process set;
            // its shutdown event then ends this worker.
            let stopper = broker.clone();
            let ctx_stop = stop.clone();
            tokio::task::spawn_local(async move {
                stop.notified().await;
                tracing::info!("stop RPC: asking the broker to shut down");
                if let Err(e) = stopper.request_shutdown().await {
                    tracing::warn!("cannot ask the broker to stop: {e}");
                }
            });
            stop_at_height(&fatal_chain, config.get_int("stopatheight", 0), ctx_stop);
            // Core's line once start-up is complete.
            tracing::info!("init message: Done loading");
            // Serve RPC (when -server) until the worker is told to stop or a
            // fatal error (a full disk) stops it; hold the chain and the
            // wallet link until then.
            let fatal = tokio::select! {
                r = serve_rpc(broker.clone(), &config, methods, whitelist) => {
                    r?;
                    tokio::select! {
                        _ = stopping.wait() => None,
                        m = fatal_chain.fatal_error() => Some(m),
                    }
                }
                _ = stopping.wait() => None,
                m = fatal_chain.fatal_error() => Some(m),
            };
            // The GUI hears it before its wallets and the node go away.
            let _ = closing.send(true);
            if let Some(w) = &wallets {
                w.shutdown().await;
            }
            net.save_peers().await;
            net.save_anchors().await;
            if persist_mempool {
                if let Err(e) = mempool_file::save(&broker, &mempool).await {
                    tracing::warn!("Failed to dump mempool: {e}. Continuing anyway.");
                }
            }
            match fatal {
                // Core's AbortNode: one line on the console, exit code 1 (the
                // broker then stops the rest of the process set).
                Some(m) => Err(format!(
                    "A fatal internal error occurred, see debug.log for details: {m}"
                )),
                None => Ok(()),
            }
        },
    )
}

/// Core's -stopatheight: once a block at `height` or above joins the
/// active chain, the node stops as on `stop` (0: never).
fn stop_at_height(chain: &Arc<Chain>, height: i64, stop: Rc<tokio::sync::Notify>) {
    if height <= 0 {
        return;
    }
    let mut tip = chain.watch_tip();
    tip.borrow_and_update();
    tokio::task::spawn_local(async move {
        while tip.changed().await.is_ok() {
            let reached = tip.borrow_and_update().height;
            if i64::from(reached) >= height {
                tracing::info!("Reached block height {reached} (-stopatheight={height}): stopping");
                stop.notify_one();
                break;
            }
        }
    });
}

/// The chain's options from the node's, checked as Core's
/// AppInitParameterInteraction checks them (the broker calls this too, to
/// refuse bad options before it binds anything).
pub fn chain_options(config: &Config) -> Result<ChainOptions, String> {
    let prune = PruneOptions::parse(
        config.get_int("prune", 0),
        config.get_bool("fastprune", false),
        config.get_bool("blocksxor", true),
    )?;
    if prune.enabled() {
        if config.get_bool("txindex", false) {
            return Err("Prune mode is incompatible with -txindex.".into());
        }
        if config.get_bool("reindex-chainstate", false) {
            return Err(
                "Prune mode is incompatible with -reindex-chainstate. Use full -reindex instead."
                    .into(),
            );
        }
    }
    // Core's ApplyArgsManOptions readings (a negated option reads "0").
    let user_hex = |name: &str, what: &str| -> Result<Option<[u8; 32]>, String> {
        let value = if config.is_negated(name) {
            Some("0".to_string())
        } else {
            config.get(name)
        };
        value
            .map(|v| {
                manager_options::user_hex_256(&v).ok_or_else(|| {
                    format!(
                        "Invalid {what} specified ({v}), must be up to 64 hex digits{}",
                        if name == "assumevalid" {
                            " (or 0 to disable)"
                        } else {
                            ""
                        }
                    )
                })
            })
            .transpose()
    };
    let minimum_chain_work = user_hex("minimumchainwork", "minimum work")?;
    let assume_valid = user_hex("assumevalid", "assumevalid block hash")?;
    let blocks_dir = config.blocks_dir().ok_or_else(|| {
        format!(
            "Specified blocks directory \"{}\" does not exist.",
            config.get("blocksdir").unwrap_or_default()
        )
    })?;
    Ok(ChainOptions {
        blocks_dir,
        max_tip_age: config.get_int("maxtipage", manager_options::DEFAULT_MAX_TIP_AGE),
        minimum_chain_work,
        assume_valid,
        net_dir: config.net_dir(),
        chain: config.chain().name().to_string(),
        reindex: config.get_bool("reindex", false),
        reindex_chainstate: config.get_bool("reindex-chainstate", false),
        worker_threads: config.get_int("par", 0).clamp(0, 15) as i32,
        txindex: config.get_bool("txindex", false),
        prune,
        test_params: TestParams {
            bip94: test_option(config, "bip94")?,
            ..TestParams::parse(
                &config.get_all("testactivationheight"),
                &config.get_all("vbparams"),
            )?
        },
    })
}

/// Core's test-only options (`-test=<option>`).
const TEST_OPTIONS: [&str; 2] = ["addrman", "bip94"];

/// Whether `-test=<name>` is given, after Core's init checks of `-test`:
/// regtest only; an option it does not know is warned of.
fn test_option(config: &Config, name: &str) -> Result<bool, String> {
    let given = config.get_all("test");
    if given.is_empty() {
        return Ok(false);
    }
    if config.chain().name() != "regtest" {
        return Err("-test=<option> can only be used with regtest".into());
    }
    for option in given.iter().filter(|o| !TEST_OPTIONS.contains(&o.as_str())) {
        tracing::warn!("Unrecognised option \"{option}\" provided in -test=<option>.");
    }
    Ok(given.iter().any(|o| o == name))
}

/// Opens Core's chainstate (on a blocking thread: it may replay blocks).
async fn open_chain(config: &Config) -> Result<Arc<Chain>, String> {
    // Core's -mocktime: the clock setmocktime sets, from the start (0: the
    // real time).
    crate::chain::clock::set_mock_time(config.get_int("mocktime", 0));
    // Core's start-up check: refuse to start with less than its reserve free.
    let net_dir = config.net_dir();
    if !crate::chain::disk_space::has_room(&net_dir, 0) {
        return Err(format!(
            "Disk space is low for {:?}",
            net_dir.display().to_string()
        ));
    }
    let opts = chain_options(config)?;
    tokio::task::spawn_blocking(move || Chain::open(&opts))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| match e {
            // Core's init error for a chainstate that needs rebuilding.
            ChainError::Load(why) => format!(
                "{}{why}.\nPlease restart with -reindex or -reindex-chainstate to recover.",
                child::QUESTION
            ),
            ChainError::Refused(why) => why,
            e => format!("Error opening block database: {e}"),
        })
}

/// Serves JSON-RPC on the sockets the broker bound until the worker ends;
/// returns at once when the broker binds none (-server=0).
async fn serve_rpc(
    broker: Rc<BrokerClient>,
    config: &Config,
    methods: Rc<dyn Dispatcher>,
    whitelist: Rc<Whitelist>,
) -> Result<(), String> {
    let (fds, cookie) = match broker.rpc_server().await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!("JSON-RPC server not started: {e}");
            return Ok(());
        }
    };
    let auth = Auth::new(
        cookie.as_deref(),
        config.get("rpcuser").as_deref(),
        config.get("rpcpassword").as_deref(),
        &config.get_all("rpcauth"),
    )
    .map_err(|e| {
        // Core: the reason in the log, the init error on the console.
        tracing::error!("{e}");
        "Unable to start HTTP server. See debug log for details.".to_string()
    })?;
    let allow = config
        .get_all("rpcallowip")
        .iter()
        .map(|s| Subnet::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let positive = |name: &str, default: usize| {
        usize::try_from(config.get_int(name, default as i64))
            .unwrap_or(default)
            .max(1)
    };
    let opts = ServerOptions {
        allow,
        work_queue: positive("rpcworkqueue", http::DEFAULT_WORK_QUEUE),
        threads: positive("rpcthreads", http::DEFAULT_THREADS),
        auth,
        whitelist,
        timeout: std::time::Duration::from_secs(positive(
            "rpcservertimeout",
            http::DEFAULT_SERVER_TIMEOUT_SECS,
        ) as u64),
    };
    let listeners: Vec<std::net::TcpListener> =
        fds.into_iter().map(std::net::TcpListener::from).collect();
    tracing::info!("Starting RPC server on {} socket(s)", listeners.len());
    http::serve(listeners, opts, methods, std::future::pending())
        .await
        .map_err(|e| format!("RPC server: {e}"))
}

/// Starts the P2P side: the listening sockets the broker bound, and the
/// `-connect`/`-addnode` peers through the broker.
async fn start_p2p(
    broker: &Rc<BrokerClient>,
    config: &Config,
    chain: &Arc<Chain>,
    mempool: &Arc<Mempool>,
) -> Result<Rc<crate::net::Net>, String> {
    let peer_timeout = config.get_int("peertimeout", 60);
    if peer_timeout <= 0 {
        return Err("peertimeout must be a positive integer.".into());
    }
    let addrman = peers_file::load(broker, config).await?;
    let net = crate::net::Net::new(
        chain.clone(),
        mempool.clone(),
        broker.clone(),
        crate::net::NetOptions {
            user_agent: crate::net::user_agent(&config.get_all("uacomment"))?,
            // Core's DEFAULT_MAX_PEER_CONNECTIONS and
            // DEFAULT_FULL_RELAY_INBOUND_PCT.
            max_connections: config.get_int("maxconnections", 200).max(0) as usize,
            inbound_relay_percent: config.get_int("inboundrelaypercent", 50).clamp(0, 100) as usize,
            v2transport: config.get_bool("v2transport", true),
            reachable: reachable_networks(config),
            peer_timeout,
            blocks_only: config.get_bool("blocksonly", false),
            peer_bloom_filters: config.get_bool("peerbloomfilters", false),
            // Core's DEFAULT_MISBEHAVING_BANTIME: a day.
            ban_time: config.get_int("bantime", 24 * 60 * 60),
        },
        addrman,
    );
    let listeners = broker
        .p2p_server()
        .await
        .map_err(|e| format!("P2P sockets: {e}"))?
        .into_iter()
        .map(std::net::TcpListener::from)
        .collect();
    let (whitelist, whitebinds) = crate::net::permissions::from_config(config)?;
    net.set_whitelist(whitelist);
    net.set_whitebinds(whitebinds);
    net.load_bans().await;
    net.start(listeners);
    let connect: Vec<String> = config
        .get_all("connect")
        .into_iter()
        .filter(|c| !c.is_empty() && c != "0")
        .collect();
    // Core: without -connect, outbound peers come from the address manager
    // (and -seednode); with it, only from -connect.
    if !config.is_set("connect") {
        let anchors = peers_file::load_anchors(broker, config).await;
        net.start_automatic_connections(config.get_all("seednode"), anchors);
    }
    for address in config.get_all("addnode") {
        net.set_added(&address, true);
    }
    for address in connect.into_iter().chain(config.get_all("addnode")) {
        let net = net.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = net.connect(&address, crate::net::ConnType::Manual).await {
                tracing::info!(target: "net", "connecting to {address}: {e}");
            }
        });
    }
    Ok(net)
}

/// Core's g_reachable_nets: IPv4 and IPv6, onion behind `-proxy`/`-onion`,
/// CJDNS with `-cjdnsreachable`, narrowed by `-onlynet`. (No I2P: this
/// node has no SAM client.)
fn reachable_networks(config: &Config) -> Vec<crate::net::netaddr::Network> {
    use crate::net::netaddr::Network;
    let set = |name: &str| config.get(name).is_some_and(|v| !v.is_empty() && v != "0");
    let mut nets = vec![Network::Ipv4, Network::Ipv6];
    // Core: -onion=0 turns Tor off even when -proxy would reach it.
    let onion_off = config.is_negated("onion") || config.get("onion").is_some_and(|v| v == "0");
    if !onion_off && (set("proxy") || set("onion")) {
        nets.push(Network::Onion);
    }
    if config.get_bool("cjdnsreachable", false) {
        nets.push(Network::Cjdns);
    }
    let only: Vec<Network> = config
        .get_all("onlynet")
        .iter()
        .filter_map(|n| Network::parse(n))
        .collect();
    if !only.is_empty() {
        nets.retain(|n| only.contains(n));
    }
    nets
}

/// `-wallet=<name>`: each wallet is loaded at start, in its own process;
/// one that cannot be loaded stops the node, as in Core.
async fn load_startup_wallets(wallets: &wallets::Wallets, config: &Config) -> Result<(), String> {
    // -wallet= on the command line or in bitcoin.conf overrides settings.json.
    let mut names = config.get_all("wallet");
    if names.is_empty() && !config.is_set("wallet") {
        names = wallets.startup_list().await;
    }
    names.retain(|n| !n.is_empty());
    names.dedup();
    for name in names {
        if let Err(e) = wallets.open(&name, None).await {
            return Err(e.message);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Parsed, Program};
    use crate::net::netaddr::Network;

    fn reachable(args: &[&str]) -> Vec<Network> {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec![format!("-datadir={}", dir.path().display())];
        argv.extend(args.iter().map(|a| a.to_string()));
        let Ok(Parsed::Run(config)) = Config::from_command_line(Program::Node, &argv) else {
            panic!("not a run");
        };
        reachable_networks(&config)
    }

    #[test]
    fn tor_is_reachable_through_a_proxy_unless_onion_is_off() {
        let clear = vec![Network::Ipv4, Network::Ipv6];
        let tor = vec![Network::Ipv4, Network::Ipv6, Network::Onion];
        assert_eq!(reachable(&[]), clear);
        assert_eq!(reachable(&["-proxy=127.0.0.1:9050"]), tor);
        assert_eq!(reachable(&["-onion=127.0.0.1:9050"]), tor);
        assert_eq!(reachable(&["-proxy=127.0.0.1:9050", "-onion=0"]), clear);
        assert_eq!(reachable(&["-proxy=127.0.0.1:9050", "-noonion"]), clear);
        assert_eq!(
            reachable(&["-proxy=127.0.0.1:9050", "-onlynet=onion"]),
            vec![Network::Onion]
        );
    }
}
