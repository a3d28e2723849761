//! Network RPCs over the worker's peers (`net/`): getconnectioncount,
//! getpeerinfo, getnetworkinfo, addnode, getaddednodeinfo, disconnectnode,
//! getnettotals, setban, listbanned, clearbanned, setnetworkactive, with
//! Core's names, fields and errors.

use serde_json::{json, Value};

use super::{arg, Handler::Sync, Method, NodeCtx, Ty};
use crate::net::netaddr::Network;
use crate::net::{Net, PeerInfo};
use crate::rpc::json::amount;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

/// Core's RPC_CLIENT_NODE_ALREADY_ADDED and friends.
const NODE_ALREADY_ADDED: i32 = -23;
const NODE_NOT_ADDED: i32 = -24;
const NODE_NOT_CONNECTED: i32 = -29;
const INVALID_IP_OR_SUBNET: i32 = -30;
/// Core's RPC_CLIENT_NODE_CAPACITY_REACHED.
const NODE_CAPACITY_REACHED: i32 = -34;

pub fn methods() -> Vec<Method> {
    let m = |name, args, summary, f| Method {
        name,
        category: "Network",
        args,
        summary,
        handler: Sync(f),
        hidden: false,
    };
    vec![
        m("getconnectioncount", &[], "Returns the number of connections to other nodes.", getconnectioncount),
        m("getpeerinfo", &[], "Returns data about each connected network peer as a json array of objects.", getpeerinfo),
        m("getnetworkinfo", &[], "Returns an object containing various state info regarding P2P networking.", getnetworkinfo),
        m("addnode", &[("node", Ty::Str, true), ("command", Ty::Str, true), ("v2transport", Ty::Bool, false)], "Attempts to add or remove a node from the addnode list.\nOr try a connection to a node once.", addnode),
        m("getaddednodeinfo", &[("node", Ty::Str, false)], "Returns information about the given added node, or all added nodes.", getaddednodeinfo),
        m("ping", &[], "Requests that a ping be sent to all other nodes, to measure ping time.\nResults are provided in getpeerinfo.\nPing command is handled in queue with all other commands, so it measures processing backlog, not just network ping.", ping),
        m("getblockfrompeer", &[("blockhash", Ty::Hex, true), ("peer_id", Ty::Num, true)], "Attempt to fetch block from a given peer.", getblockfrompeer),
        m("disconnectnode", &[("address", Ty::Str, false), ("nodeid", Ty::Num, false)], "Immediately disconnects from the specified peer node.", disconnectnode),
        m("getnettotals", &[], "Returns information about network traffic, including bytes in, bytes out,\nand current system time.", getnettotals),
        m("setban", &[("subnet", Ty::Str, true), ("command", Ty::Str, true), ("bantime", Ty::Num, false), ("absolute", Ty::Bool, false)], "Attempts to add or remove an IP/Subnet from the banned list.", setban),
        m("listbanned", &[], "List all manually banned IPs/Subnets.", listbanned),
        m("clearbanned", &[], "Clear all banned IPs.", clearbanned),
        m("setnetworkactive", &[("state", Ty::Bool, true)], "Disable/enable all p2p network activity.", setnetworkactive),
        m("getnodeaddresses", &[("count", Ty::Num, false), ("network", Ty::Str, false)], "Return known addresses, after filtering for quality and recency.\nThese can potentially be used to find new peers in the network.\nThe total number of addresses known to the node may be higher.", getnodeaddresses),
        Method {
            name: "getorphantxs",
            category: "hidden",
            args: &[("verbosity", Ty::BoolOrNum, false)],
            summary: "Shows transactions in the tx orphanage.",
            handler: Sync(getorphantxs),
            hidden: true,
        },
        Method {
            name: "mockscheduler",
            category: "hidden",
            args: &[("delta_time", Ty::Num, true)],
            summary: "Bump the scheduler into the future (-regtest only)",
            handler: Sync(mockscheduler),
            hidden: true,
        },
        m("getaddrmaninfo", &[], "Provides information about the node's address manager by returning the number of addresses in the `new` and `tried` tables and their sum for all networks.", getaddrmaninfo),
        Method {
            name: "getrawaddrman",
            category: "hidden",
            args: &[],
            summary: "EXPERIMENTAL warning: this call may be changed in future releases.\n\nReturns information on all address manager entries for the new and tried tables.",
            handler: Sync(getrawaddrman),
            hidden: true,
        },
        Method {
            name: "addconnection",
            category: "hidden",
            args: &[("address", Ty::Str, true), ("connection_type", Ty::Str, true), ("v2transport", Ty::Bool, true)],
            summary: "Open an outbound connection to a specified node. This RPC is for testing only.",
            handler: Sync(addconnection),
            hidden: true,
        },
        Method {
            name: "sendmsgtopeer",
            category: "hidden",
            args: &[("peer_id", Ty::Num, true), ("msg_type", Ty::Str, true), ("msg", Ty::Str, true)],
            summary: "Send a p2p message to a peer specified by id.\nThe message type and body must be provided, the message header will be generated.\nThis RPC is for testing only.",
            handler: Sync(sendmsgtopeer),
            hidden: true,
        },
        Method {
            name: "addpeeraddress",
            category: "hidden",
            args: &[("address", Ty::Str, true), ("port", Ty::Num, true), ("tried", Ty::Bool, false)],
            summary: "Add the address of a potential peer to an address manager table. This RPC is for testing only.",
            handler: Sync(addpeeraddress),
            hidden: true,
        },
    ]
}

/// The "Result:" part of `help <name>` for the network methods whose
/// results name networks (the fields described in our words; the network
/// lists are Core's).
pub(super) fn result_help(name: &str) -> Option<String> {
    let names = |extra: &[&str]| {
        let mut v: Vec<&str> = Network::PUBLIC.iter().map(|n| n.name()).collect();
        v.extend_from_slice(extra);
        v.join(", ")
    };
    let text = match name {
        "getpeerinfo" => format!(
            "[                                 (json array)\n  {{                               (json object)\n    \"id\" : n,                      (numeric) Peer index\n    \"addr\" : \"str\",                (string) (host:port) The IP address and port of the peer\n    \"network\" : \"str\",             (string) Network ({})\n    \"services\" : \"hex\",            (string) The services offered\n    \"inbound\" : true|false,        (boolean) Inbound (true) or Outbound (false)\n    \"connection_type\" : \"str\",     (string) Type of connection\n    \"transport_protocol_type\" : \"str\", (string) v1 or v2\n    ...\n  }},\n  ...\n]",
            names(&["not_publicly_routable"])
        ),
        "getnetworkinfo" => format!(
            "{{                                 (json object)\n  \"version\" : n,                   (numeric) the server version\n  \"subversion\" : \"str\",           (string) the server subversion string\n  \"networks\" : [                  (json array) information per network\n    {{                               (json object)\n      \"name\" : \"str\",               (string) network ({})\n      \"limited\" : true|false,       (boolean) is the network limited using -onlynet?\n      \"reachable\" : true|false,     (boolean) is the network reachable?\n      ...\n    }},\n    ...\n  ],\n  ...\n}}",
            names(&[])
        ),
        _ => return None,
    };
    Some(text)
}

fn net(ctx: &NodeCtx) -> Result<&std::rc::Rc<Net>, RpcError> {
    ctx.net.as_ref().ok_or_else(|| {
        RpcError::new(
            code::CLIENT_P2P_DISABLED,
            "Error: Peer-to-peer functionality missing or disabled",
        )
    })
}

fn getconnectioncount(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    Ok(net(ctx)?.peers().len().into())
}

/// Core's GetServicesNames: every set bit by name, low bit first; bits
/// without a name as `UNKNOWN[2^n]`.
fn services_names(services: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| services & (1u64 << bit) != 0)
        .map(|bit| {
            let name = match bit {
                0 => "NETWORK",
                2 => "BLOOM",
                3 => "WITNESS",
                6 => "COMPACT_FILTERS",
                10 => "NETWORK_LIMITED",
                11 => "P2P_V2",
                _ => return format!("UNKNOWN[2^{bit}]"),
            };
            name.to_string()
        })
        .collect()
}

fn ping(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    net(ctx)?.ping_all();
    Ok(Value::Null)
}

fn per_msg(m: &std::collections::BTreeMap<String, u64>) -> Value {
    m.iter()
        .map(|(k, v)| (k.clone(), Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn peer_json(p: &PeerInfo) -> Value {
    // A connection through a proxy shows the address we asked for.
    let network = p.service().addr.net_class().name();
    let fields = |v: Value| match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    // Core's member order: the ping times come right after timeoffset.
    let mut out = fields(json!({
        "id": p.id,
        "addr": p.target.map_or_else(|| p.addr.to_string(), |t| t.to_string()),
        "addrbind": p.addr_bind.map(|a| a.to_string()).unwrap_or_default(),
        "network": network,
        "services": format!("{:016x}", p.services),
        "servicesnames": services_names(p.services),
        "relaytxes": p.relay_txs,
        "lastsend": p.last_send,
        "lastrecv": p.last_recv,
        "last_transaction": p.last_transaction,
        "last_block": p.last_block,
        "bytessent": p.bytes_sent,
        "bytesrecv": p.bytes_recv,
        "conntime": p.conntime,
        "timeoffset": 0,
    }));
    let pings = [
        ("pingtime", p.ping_time),
        ("minping", p.min_ping),
        (
            "pingwait",
            p.ping_nonce
                .map(|_| (crate::chain::clock::now_micros() - p.ping_start) as f64 / 1e6),
        ),
    ];
    for (name, secs) in pings {
        if let Some(t) = secs {
            out.insert(name.into(), crate::rpc::json::double(t));
        }
    }
    out.extend(fields(json!({
        "version": p.version,
        "subver": p.subver,
        "inbound": p.inbound,
        "bip152_hb_to": p.bip152_hb_to,
        "bip152_hb_from": p.bip152_hb_from,
        "presynced_headers": p.presynced_headers,
        "synced_headers": p.synced_headers,
        "synced_blocks": p.synced_blocks,
        "inflight": p.inflight,
        "addr_relay_enabled": p.addr_relay.enabled,
        "addr_processed": p.addr_relay.processed,
        "addr_rate_limited": p.addr_relay.rate_limited,
        "permissions": crate::net::permissions::names(p.permissions),
        "minfeefilter": amount(p.min_fee_filter),
        "inv_to_send": p.inv_to_send,
        "last_inv_sequence": p.last_inv_sequence,
        "bytessent_per_msg": per_msg(&p.sent_per_msg),
        "bytesrecv_per_msg": per_msg(&p.recv_per_msg),
        "connection_type": p.conn_type.name(),
        "transport_protocol_type": p.transport,
        "session_id": p.session_id.map(|id| bitcoin::hex::DisplayHex::to_lower_hex_string(&id[..])).unwrap_or_default(),
    })));
    Value::Object(out)
}

fn getpeerinfo(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    Ok(net(ctx)?.peers().iter().map(peer_json).collect())
}

fn getnetworkinfo(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let peers = net.peers();
    let inbound = peers.iter().filter(|p| p.inbound).count();
    let networks: Vec<Value> = Network::PUBLIC
        .iter()
        .map(|n| {
            let reachable = net.reachable().contains(n);
            json!({"name": n.name(), "limited": !reachable, "reachable": reachable, "proxy": "", "proxy_randomize_credentials": false})
        })
        .collect();
    Ok(json!({
        "version": client_version(),
        "subversion": net.user_agent(),
        "protocolversion": 70016,
        "localservices": format!("{:016x}", net.local_services()),
        "localservicesnames": services_names(net.local_services()),
        "localrelay": !net.blocks_only(),
        "timeoffset": 0,
        "networkactive": net.is_active(),
        "connections": peers.len(),
        "connections_in": inbound,
        "connections_out": peers.len() - inbound,
        "networks": networks,
        "relayfee": amount(ctx.mempool.options().min_relay_feerate.0),
        "incrementalfee": amount(ctx.mempool.options().incremental_relay_feerate.0),
        "localaddresses": [],
        "warnings": [],
    }))
}

/// Core's CLIENT_VERSION formula (major * 10000 + minor * 100 + patch).
fn client_version() -> u64 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    next() * 10_000 + next() * 100 + next()
}

fn addnode(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?.clone();
    let node = arg::string(args, 0).unwrap_or_default();
    let command = arg::string(args, 1).unwrap_or_default();
    // Core's order of checks: the command, the address, then v2transport.
    if !["onetry", "add", "remove"].contains(&command.as_str()) {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "addnode \"node\" \"command\" ( v2transport )",
        ));
    }
    if node.trim().is_empty() {
        // Such a node would never resolve, but be retried for ever.
        return Err(super::invalid_parameter(
            "Error: Node address cannot be empty",
        ));
    }
    let v2 = arg::opt(args, 2)
        .and_then(Value::as_bool)
        .unwrap_or(net.v2_enabled());
    if v2 && !net.v2_enabled() {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Error: v2transport requested but not enabled (see -v2transport)",
        ));
    }
    match command.as_str() {
        "onetry" | "add" => {
            if command == "add" && !net.set_added(&node, true) {
                return Err(RpcError::new(
                    NODE_ALREADY_ADDED,
                    "Error: Node already added",
                ));
            }
            // As Core: the call returns at once; the connection follows.
            tokio::task::spawn_local(async move {
                if let Err(e) = net
                    .connect_with(&node, crate::net::ConnType::Manual, v2)
                    .await
                {
                    tracing::info!(target: "net", "addnode {node}: {e}");
                }
            });
            Ok(Value::Null)
        }
        "remove" => {
            if !net.set_added(&node, false) {
                return Err(RpcError::new(
                    NODE_NOT_ADDED,
                    "Error: Node could not be removed. It has not been added previously.",
                ));
            }
            Ok(Value::Null)
        }
        // Any other command was refused above.
        _ => Ok(Value::Null),
    }
}

fn getaddednodeinfo(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let added = net.added();
    let wanted = arg::string(args, 0);
    if let Some(w) = &wanted {
        if !added.contains(w) {
            return Err(RpcError::new(
                NODE_NOT_ADDED,
                "Error: Node has not been added.",
            ));
        }
    }
    let peers = net.peers();
    Ok(added
        .iter()
        .filter(|a| wanted.as_ref().is_none_or(|w| w == *a))
        .map(|a| {
            let connected: Vec<Value> = peers
                .iter()
                .filter(|p| p.addr.to_string() == *a)
                .map(|p| json!({"address": p.addr.to_string(), "connected": if p.inbound { "inbound" } else { "outbound" }}))
                .collect();
            json!({"addednode": a, "connected": !connected.is_empty(), "addresses": connected})
        })
        .collect())
}

/// Core's getblockfrompeer: a block whose header we have, asked of one
/// peer (a pruned node may fetch again only what it synced before).
fn getblockfrompeer(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let hash: bitcoin::BlockHash = arg::hash(args, 0, "blockhash")?;
    let peer_id = arg::int(args, 1, 0)?;
    let net = net(ctx)?;
    let misc = |m: &str| RpcError::new(code::MISC_ERROR, m);
    let block = ctx
        .chain
        .block_info(&hash)
        .ok_or_else(|| misc("Block header missing"))?;
    if ctx.chain.prune_state().is_some() && block.height > ctx.chain.tip().height {
        return Err(misc("In prune mode, only blocks that the node has already synced previously can be fetched from a peer"));
    }
    if ctx.chain.have_block_data(&hash) {
        return Err(misc("Block already downloaded"));
    }
    net.fetch_block(peer_id, &block).map_err(|e| misc(&e))?;
    Ok(json!({}))
}

fn disconnectnode(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let address = arg::string(args, 0).filter(|a| !a.is_empty());
    let id = arg::opt(args, 1).and_then(Value::as_u64);
    let done = match (address.as_deref(), id) {
        (Some(a), None) => net.disconnect(None, Some(a)),
        (None, Some(id)) => net.disconnect(Some(id), None),
        _ => {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                "Only one of address and nodeid should be provided.",
            ))
        }
    };
    if !done {
        return Err(RpcError::new(
            NODE_NOT_CONNECTED,
            "Node not found in connected nodes",
        ));
    }
    Ok(Value::Null)
}

fn getnettotals(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let (sent, recv) = net(ctx)?.totals();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // No -maxuploadtarget yet: Core's answer for an unset target.
    Ok(json!({
        "totalbytesrecv": recv,
        "totalbytessent": sent,
        "timemillis": millis,
        "uploadtarget": {
            "timeframe": 86400,
            "target": 0,
            "target_reached": false,
            "serve_historical_blocks": true,
            "bytes_left_in_cycle": 0,
            "time_left_in_cycle": 0,
        },
    }))
}

fn setban(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let text = arg::string(args, 0).unwrap_or_default();
    let command = arg::string(args, 1).unwrap_or_default();
    if command != "add" && command != "remove" {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "setban \"subnet\" \"command\" ( bantime absolute )",
        ));
    }
    let invalid = || RpcError::new(INVALID_IP_OR_SUBNET, "Error: Invalid IP/Subnet");
    let is_subnet = text.contains('/');
    let subnet = crate::net::bans::Banned::parse(&text).ok_or_else(invalid)?;
    if command == "remove" {
        if !net.unban(&subnet) {
            return Err(RpcError::new(
                INVALID_IP_OR_SUBNET,
                "Error: Unban failed. Requested address/subnet was not previously manually banned.",
            ));
        }
        return Ok(Value::Null);
    }
    let now = crate::chain::clock::now();
    // Core: a subnet must not be banned as it is; a single address must
    // not be inside any ban.
    let already = net.banned().iter().any(|(s, _)| match subnet {
        _ if is_subnet => *s == subnet,
        crate::net::bans::Banned::Host(addr) => s.covers(&addr),
        crate::net::bans::Banned::Subnet(_) => {
            crate::net::netaddr::NetAddr::parse_host(&text).is_some_and(|addr| s.covers(&addr))
        }
    });
    if already {
        return Err(RpcError::new(
            NODE_ALREADY_ADDED,
            "Error: IP/Subnet already banned",
        ));
    }
    let bantime = arg::int(args, 2, 0)?;
    let absolute = arg::opt(args, 3).and_then(Value::as_bool).unwrap_or(false);
    if absolute && bantime < now {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Error: Absolute timestamp is in the past",
        ));
    }
    let until = match (bantime <= 0, absolute) {
        (true, _) => now + net.default_ban_time(),
        (false, true) => bantime,
        (false, false) => now + bantime,
    };
    net.ban(subnet, until);
    Ok(Value::Null)
}

fn listbanned(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let now = crate::chain::clock::now();
    Ok(net(ctx)?
        .banned()
        .iter()
        .map(|(s, b)| {
            json!({
                "address": s.to_string(),
                "ban_created": b.created,
                "banned_until": b.until,
                "ban_duration": b.until - b.created,
                "time_remaining": b.until - now,
            })
        })
        .collect())
}

fn clearbanned(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    net(ctx)?.clear_bans();
    Ok(Value::Null)
}

fn setnetworkactive(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    net.set_active(arg::opt(args, 0).and_then(Value::as_bool).unwrap_or(true));
    Ok(net.is_active().into())
}

fn getnodeaddresses(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let count = arg::int(args, 0, 1)?;
    if count < 0 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Address count out of range",
        ));
    }
    let network = match arg::string(args, 1) {
        None => None,
        Some(n) => Some(Network::parse(&n).ok_or_else(|| {
            RpcError::new(
                code::INVALID_PARAMETER,
                format!("Network not recognized: {n}"),
            )
        })?),
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    Ok(net
        .node_addresses(count, network)
        .iter()
        .map(|a| {
            json!({
                "time": a.time,
                "services": a.services,
                "address": a.service.addr.to_string(),
                "port": a.service.port,
                "network": a.service.addr.net_class().name(),
            })
        })
        .collect())
}

/// Core's getaddrmaninfo: new, tried and total per network and overall.
fn getaddrmaninfo(ctx: &NodeCtx, _args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let counts = |network| {
        let (new, tried) = net.addrman_counts(network);
        json!({ "new": new, "tried": tried, "total": new + tried })
    };
    let mut out = serde_json::Map::new();
    for n in Network::PUBLIC {
        out.insert(n.name().into(), counts(Some(n)));
    }
    out.insert("all_networks".into(), counts(None));
    Ok(out.into())
}

/// Core's hidden getrawaddrman: every entry of both tables by
/// "bucket/position".
fn getrawaddrman(ctx: &NodeCtx, _args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let table = |tried| {
        let mut t = serde_json::Map::new();
        for (info, at) in net.addrman_entries(tried) {
            t.insert(
                format!("{}/{}", at.bucket, at.position),
                json!({
                    "address": info.service.addr.to_string(),
                    "port": info.service.port,
                    "services": info.services,
                    "time": info.time,
                    "network": info.service.addr.net_class().name(),
                    "source": info.source.to_string(),
                    "source_network": info.source.net_class().name(),
                }),
            );
        }
        Value::Object(t)
    };
    Ok(json!({ "new": table(false), "tried": table(true) }))
}

/// Core's mockscheduler: the node's scheduled work (the rebroadcast of
/// transactions submitted here) runs as if `delta_time` seconds had passed.
fn mockscheduler(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    super::regtest_only(ctx, "mockscheduler")?;
    let delta = arg::int(args, 0, 0)?;
    if !(1..=3600).contains(&delta) {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "delta_time must be between 1 and 3600 seconds (1 hr)",
        ));
    }
    net(ctx)?.mock_scheduler(std::time::Duration::from_secs(delta as u64));
    Ok(Value::Null)
}

/// Core's addconnection (regtest only): an automatic kind of outbound
/// connection, opened in the background.
fn addconnection(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    if ctx.chain.network() != bitcoin::Network::Regtest {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "addconnection is for regression testing (-regtest mode) only.",
        ));
    }
    let address = arg::string(args, 0).unwrap_or_default();
    let kind = arg::string(args, 1).unwrap_or_default();
    let Some(conn) = crate::net::ConnType::parse_automatic(kind.trim()) else {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            super::help_text(&network_methods_entry("addconnection")),
        ));
    };
    let v2 = arg::opt(args, 2).and_then(Value::as_bool).unwrap_or(false);
    let net = net(ctx)?;
    if v2 && !net.v2_enabled() {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Error: Adding v2transport connections requires -v2transport init flag to be set.",
        ));
    }
    if !net.add_connection(&address, conn, v2) {
        return Err(RpcError::new(
            NODE_CAPACITY_REACHED,
            "Error: Already at capacity for specified connection type.",
        ));
    }
    Ok(json!({ "address": address, "connection_type": kind.trim() }))
}

/// This module's table entry `name` (for its help text).
fn network_methods_entry(name: &str) -> Method {
    methods()
        .into_iter()
        .find(|m| m.name == name)
        .expect("a method of this module")
}

/// Core's sendmsgtopeer: an arbitrary message, header generated.
fn sendmsgtopeer(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let peer = arg::int(args, 0, 0)?;
    let msg_type = arg::string(args, 1).unwrap_or_default();
    if msg_type.len() > 12 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Error: msg_type too long, max length is 12",
        ));
    }
    let hex = arg::string(args, 2).unwrap_or_default();
    let payload = <Vec<u8> as bitcoin::hex::FromHex>::from_hex(&hex)
        .map_err(|_| RpcError::new(code::INVALID_PARAMETER, "Error parsing input for msg"))?;
    let sent = u64::try_from(peer).is_ok_and(|id| net.send_raw(id, &msg_type, payload));
    if !sent {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Error: Could not send message to peer",
        ));
    }
    Ok(json!({}))
}

fn addpeeraddress(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let net = net(ctx)?;
    let address = arg::string(args, 0).unwrap_or_default();
    let port = u16::try_from(arg::int(args, 1, 0)?)
        .map_err(|_| RpcError::new(code::MISC_ERROR, "JSON integer out of range"))?;
    let tried = arg::opt(args, 2).and_then(Value::as_bool).unwrap_or(false);
    let Some((success, error)) = net.add_peer_address(&address, port, tried) else {
        return Err(RpcError::new(INVALID_IP_OR_SUBNET, "Invalid IP address"));
    };
    let mut out = serde_json::Map::new();
    if let Some(e) = error {
        out.insert("error".into(), e.into());
    }
    out.insert("success".into(), success.into());
    Ok(out.into())
}

fn getorphantxs(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    // Core's ParseVerbosity without booleans.
    if arg::opt(args, 0).is_some_and(Value::is_boolean) {
        return Err(RpcError::new(
            code::TYPE_ERROR,
            "Verbosity was boolean but only integer allowed",
        ));
    }
    let verbosity = arg::int(args, 0, 0)?;
    if !(0..=2).contains(&verbosity) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("Invalid verbosity value {verbosity}"),
        ));
    }
    Ok(net(ctx)?
        .orphans()
        .iter()
        .map(|(tx, from)| {
            let txid = tx.compute_txid().to_string();
            if verbosity == 0 {
                return Value::from(txid);
            }
            let mut o = json!({
                "txid": txid,
                "wtxid": tx.compute_wtxid().to_string(),
                "bytes": tx.total_size(),
                "vsize": tx.vsize(),
                "weight": tx.weight().to_wu(),
                "from": from,
            });
            if verbosity == 2 {
                o["hex"] = bitcoin::consensus::encode::serialize_hex(&**tx).into();
            }
            o
        })
        .collect())
}
