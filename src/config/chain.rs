//! The chains Core knows, their names, data subdirectories and default ports.

/// A Bitcoin network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    Main,
    Testnet,
    Testnet4,
    Signet,
    Regtest,
}

impl Chain {
    /// Core's name (`-chain=` value and conf section).
    pub fn name(self) -> &'static str {
        match self {
            Chain::Main => "main",
            Chain::Testnet => "test",
            Chain::Testnet4 => "testnet4",
            Chain::Signet => "signet",
            Chain::Regtest => "regtest",
        }
    }

    /// Parses Core's name.
    pub fn from_name(s: &str) -> Option<Chain> {
        Some(match s {
            "main" => Chain::Main,
            "test" => Chain::Testnet,
            "testnet4" => Chain::Testnet4,
            "signet" => Chain::Signet,
            "regtest" => Chain::Regtest,
            _ => return None,
        })
    }

    /// rust-bitcoin's network for this chain (addresses, keys).
    pub fn network(self) -> bitcoin::Network {
        match self {
            Chain::Main => bitcoin::Network::Bitcoin,
            Chain::Testnet => bitcoin::Network::Testnet,
            Chain::Testnet4 => bitcoin::Network::Testnet4,
            Chain::Signet => bitcoin::Network::Signet,
            Chain::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// Subdirectory of the datadir for this chain ("" for main).
    pub fn data_subdir(self) -> &'static str {
        match self {
            Chain::Main => "",
            Chain::Testnet => "testnet3",
            Chain::Testnet4 => "testnet4",
            Chain::Signet => "signet",
            Chain::Regtest => "regtest",
        }
    }

    /// Default JSON-RPC port.
    pub fn default_rpc_port(self) -> u16 {
        match self {
            Chain::Main => 8332,
            Chain::Testnet => 18332,
            Chain::Testnet4 => 48332,
            Chain::Signet => 38332,
            Chain::Regtest => 18443,
        }
    }

    /// Default P2P port.
    pub fn default_p2p_port(self) -> u16 {
        match self {
            Chain::Main => 8333,
            Chain::Testnet => 18333,
            Chain::Testnet4 => 48333,
            Chain::Signet => 38333,
            Chain::Regtest => 18444,
        }
    }
}
