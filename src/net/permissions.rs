//! net/permissions: Core's `-whitelist=[perm,...@]subnet` P2P permissions
//! (NetPermissionFlags): which inbound peers may not be banned, get
//! transactions relayed, and so on. A subnet without `@` gets Core's
//! implicit set (noban, relay, mempool; noban implies download).

use std::net::IpAddr;

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

/// Parses one `-whitelist` value; Err is Core's init error.
pub fn parse_whitelist(
    value: &str,
    whitelistrelay: bool,
    forcerelay: bool,
) -> Result<WhitelistEntry, String> {
    let (flags_text, net) = match value.split_once('@') {
        Some((p, n)) => (Some(p), n),
        None => (None, value),
    };
    let (mut flags, mut inbound, mut outbound) = (0u32, false, false);
    match flags_text {
        None => {
            // Core's implicit permissions.
            flags = MEMPOOL | NO_BAN;
            if whitelistrelay {
                flags |= RELAY;
            }
            if forcerelay {
                flags |= FORCE_RELAY;
            }
        }
        Some(list) => {
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
        }
    }
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
}
