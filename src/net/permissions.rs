//! net/permissions: Core's `-whitelist=[perm,...@]subnet` P2P permissions
//! (NetPermissionFlags): which inbound peers may not be banned, get
//! transactions relayed, and so on. A subnet without `@` gets Core's
//! implicit set (noban, relay, mempool; noban implies download).
//! `-whitebind=[perm,...@]addr:port` gives them to every inbound peer that
//! comes in on that listening socket.

use std::net::{IpAddr, SocketAddr};

use crate::rpc::http::Subnet;

pub const BLOOM_FILTER: u32 = 1 << 1;
pub const RELAY: u32 = 1 << 3;
pub const FORCE_RELAY: u32 = (1 << 2) | RELAY;
pub const DOWNLOAD: u32 = 1 << 6;
pub const NO_BAN: u32 = (1 << 4) | DOWNLOAD;
pub const MEMPOOL: u32 = 1 << 5;
pub const ADDR: u32 = 1 << 7;
const ALL: u32 = BLOOM_FILTER | FORCE_RELAY | RELAY | NO_BAN | MEMPOOL | DOWNLOAD | ADDR;

/// One `-whitelist` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhitelistEntry {
    pub subnet: Subnet,
    pub flags: u32,
    /// Applies to inbound peers (always, unless only "out" was given).
    pub inbound: bool,
    pub outbound: bool,
}

/// One `-whitebind` entry: a listening address whose inbound peers get
/// `flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhitebindEntry {
    pub addr: SocketAddr,
    pub flags: u32,
}

/// Core's TryParsePermissionFlags: `perm,...@rest` (or `rest` alone, with
/// the implicit set). The flags, the directions named, and the rest.
fn parse_permissions(
    value: &str,
    whitelistrelay: bool,
    forcerelay: bool,
) -> Result<(u32, bool, bool, &str), String> {
    let Some((list, rest)) = value.split_once('@') else {
        // Core's implicit permissions.
        let mut flags = MEMPOOL | NO_BAN;
        if whitelistrelay {
            flags |= RELAY;
        }
        if forcerelay {
            flags |= FORCE_RELAY;
        }
        return Ok((flags, false, false, value));
    };
    let (mut flags, mut inbound, mut outbound) = (0u32, false, false);
    for p in list.split(',') {
        flags |= match p {
            "bloomfilter" | "bloom" => BLOOM_FILTER,
            "noban" => NO_BAN,
            "forcerelay" => FORCE_RELAY,
            "mempool" => MEMPOOL,
            "download" => DOWNLOAD,
            "all" => ALL,
            "relay" => RELAY,
            "addr" => ADDR,
            "in" => {
                inbound = true;
                0
            }
            "out" => {
                outbound = true;
                0
            }
            "" => 0,
            other => return Err(format!("Invalid P2P permission: '{other}'")),
        };
    }
    if (inbound || outbound) && flags == 0 {
        return Err(format!("Only direction was set, no permissions: '{value}'"));
    }
    Ok((flags, inbound, outbound, rest))
}

/// Parses one `-whitelist` value; Err is Core's init error.
pub fn parse_whitelist(
    value: &str,
    whitelistrelay: bool,
    forcerelay: bool,
) -> Result<WhitelistEntry, String> {
    let (flags, mut inbound, outbound, net) = parse_permissions(value, whitelistrelay, forcerelay)?;
    if !inbound && !outbound {
        inbound = true;
    }
    let subnet = Subnet::parse(net)
        .map_err(|_| format!("Invalid netmask specified in -whitelist: '{net}'"))?;
    Ok(WhitelistEntry {
        subnet,
        flags,
        inbound,
        outbound,
    })
}

/// Parses one `-whitebind=[perm,...@]addr:port` value; Err is Core's
/// init error. The address is numeric (the node worker resolves no names).
pub fn parse_whitebind(
    value: &str,
    whitelistrelay: bool,
    forcerelay: bool,
) -> Result<WhitebindEntry, String> {
    let (flags, _, outbound, text) = parse_permissions(value, whitelistrelay, forcerelay)?;
    if outbound {
        return Err(
            "whitebind may only be used for incoming connections (\"out\" was passed)".into(),
        );
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    let addr = match (text.parse::<SocketAddr>(), bare.parse::<IpAddr>()) {
        (Ok(a), _) => a,
        (_, Ok(ip)) => SocketAddr::new(ip, 0),
        _ => return Err(format!("Cannot resolve -whitebind address: '{text}'")),
    };
    if addr.port() == 0 {
        return Err(format!("Need to specify a port with -whitebind: '{text}'"));
    }
    Ok(WhitebindEntry { addr, flags })
}

/// The permissions `-whitebind` entries give an inbound peer that came in
/// on our socket address `local`.
pub fn whitebind_flags(entries: &[WhitebindEntry], local: SocketAddr) -> u32 {
    entries
        .iter()
        .filter(|e| {
            e.addr.port() == local.port()
                && (e.addr.ip().is_unspecified() || e.addr.ip() == local.ip())
        })
        .fold(0, |f, e| f | e.flags)
}

/// The `-whitelist` and `-whitebind` entries of `config` (with Core's
/// `-whitelistrelay`/`-whitelistforcerelay` for implicit permissions);
/// Err is Core's init error.
pub fn from_config(
    config: &crate::config::Config,
) -> Result<(Vec<WhitelistEntry>, Vec<WhitebindEntry>), String> {
    let relay = config.get_bool("whitelistrelay", true);
    let force = config.get_bool("whitelistforcerelay", false);
    let whitelist = config
        .get_all("whitelist")
        .iter()
        .map(|w| parse_whitelist(w, relay, force))
        .collect::<Result<Vec<_>, _>>()?;
    let whitebinds = config
        .get_all("whitebind")
        .iter()
        .map(|w| parse_whitebind(w, relay, force))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((whitelist, whitebinds))
}

/// The permissions `entries` give a peer at `ip`.
pub fn flags_for(entries: &[WhitelistEntry], ip: IpAddr, inbound: bool) -> u32 {
    entries
        .iter()
        .filter(|e| if inbound { e.inbound } else { e.outbound })
        .filter(|e| e.subnet.contains(ip))
        .fold(0, |f, e| f | e.flags)
}

/// Core's NetPermissions::ToStrings.
pub fn names(flags: u32) -> Vec<&'static str> {
    [
        (BLOOM_FILTER, "bloomfilter"),
        (NO_BAN, "noban"),
        (FORCE_RELAY, "forcerelay"),
        (RELAY, "relay"),
        (MEMPOOL, "mempool"),
        (DOWNLOAD, "download"),
        (ADDR, "addr"),
    ]
    .into_iter()
    .filter(|(f, _)| flags & f == *f)
    .map(|(_, n)| n)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_and_explicit_permissions_read_as_cores() {
        let e = parse_whitelist("127.0.0.1", true, false).unwrap();
        assert_eq!(names(e.flags), ["noban", "relay", "mempool", "download"]);
        let e = parse_whitelist("noban,in@10.0.0.0/8", true, false).unwrap();
        assert_eq!(names(e.flags), ["noban", "download"]);
        assert!(e.inbound && !e.outbound);
        assert_eq!(flags_for(&[e], "10.1.2.3".parse().unwrap(), true), e.flags);
        assert_eq!(flags_for(&[e], "10.1.2.3".parse().unwrap(), false), 0);
        assert_eq!(
            parse_whitelist("nope@127.0.0.1", true, false).unwrap_err(),
            "Invalid P2P permission: 'nope'"
        );
        assert!(parse_whitelist("in@127.0.0.1", true, false).is_err());
        assert!(parse_whitelist("noban@300.1.1.1", true, false).is_err());
    }

    #[test]
    fn whitebind_gives_its_permissions_to_peers_on_its_socket() {
        let e = parse_whitebind("bloomfilter,forcerelay@127.0.0.1:18444", true, false).unwrap();
        assert_eq!(names(e.flags), ["bloomfilter", "forcerelay", "relay"]);
        let any = parse_whitebind("[::]:18445", true, false).unwrap();
        assert_eq!(names(any.flags), ["noban", "relay", "mempool", "download"]);
        let entries = [e, any];
        let local = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(whitebind_flags(&entries, local("127.0.0.1:18444")), e.flags);
        assert_eq!(whitebind_flags(&entries, local("10.0.0.1:18444")), 0);
        assert_eq!(whitebind_flags(&entries, local("[::1]:18445")), any.flags);
        assert_eq!(
            parse_whitebind("noban@127.0.0.1/10", true, false).unwrap_err(),
            "Cannot resolve -whitebind address: '127.0.0.1/10'"
        );
        assert_eq!(
            parse_whitebind("noban@127.0.0.1", true, false).unwrap_err(),
            "Need to specify a port with -whitebind: '127.0.0.1'"
        );
        assert!(parse_whitebind("in@127.0.0.1:1", true, false).is_err());
        assert!(parse_whitebind("noban,out@127.0.0.1:1", true, false).is_err());
    }
}
