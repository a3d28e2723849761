//! The wallet options a wallet process receives from the broker (Core's
//! names and defaults): fees, replaceability, address and change types.

use super::keys::AddrType;
use crate::config::Config;

/// Core's DEFAULT_MAX_TX_FEE: 0.1 BTC.
const DEFAULT_MAX_TX_FEE: i64 = 10_000_000;

/// Core's DEFAULT_KEYPOOL_SIZE.
const DEFAULT_KEYPOOL: i64 = 1000;

/// Resolved wallet options.
#[derive(Clone, Debug)]
pub struct WalletOptions {
    /// -fallbackfee, sat/kvB (0: disabled, Core's default).
    pub fallback_fee: i64,
    /// -paytxfee, sat/kvB (0: not set).
    pub pay_tx_fee: i64,
    /// -mintxfee, sat/kvB.
    pub min_tx_fee: i64,
    /// -maxtxfee, satoshis: the most one transaction may pay.
    pub max_tx_fee: i64,
    /// -walletrbf: signal BIP125 replaceability.
    pub wallet_rbf: bool,
    /// -spendzeroconfchange.
    pub spend_zero_conf_change: bool,
    /// -addresstype.
    pub address_type: AddrType,
    /// -changetype (None: as Core, the default output type).
    pub change_type: Option<AddrType>,
    /// -keypool: addresses kept ahead of the last one handed out, per
    /// descriptor (what getwalletinfo and listdescriptors report).
    pub keypool: u32,
}

fn fee_option(config: &Config, name: &str, default: i64) -> Result<i64, String> {
    match config.get(name) {
        None => Ok(default),
        Some(text) => crate::rpc::amount::parse_fixed_point(&text, 8)
            .filter(|v| *v >= 0)
            .ok_or_else(|| format!("Invalid amount for -{name}=<amount>: '{text}'")),
    }
}

fn type_option(config: &Config, name: &str) -> Result<Option<AddrType>, String> {
    match config.get(name) {
        None => Ok(None),
        Some(text) => AddrType::parse(&text)
            .map(Some)
            .ok_or_else(|| format!("Unknown address type '{text}'")),
    }
}

impl WalletOptions {
    pub fn from_config(config: &Config) -> Result<WalletOptions, String> {
        Ok(WalletOptions {
            fallback_fee: fee_option(config, "fallbackfee", 0)?,
            pay_tx_fee: fee_option(config, "paytxfee", 0)?,
            min_tx_fee: fee_option(config, "mintxfee", 1000)?,
            max_tx_fee: fee_option(config, "maxtxfee", DEFAULT_MAX_TX_FEE)?,
            wallet_rbf: config.get_bool("walletrbf", true),
            spend_zero_conf_change: config.get_bool("spendzeroconfchange", true),
            address_type: type_option(config, "addresstype")?.unwrap_or(AddrType::Bech32),
            change_type: type_option(config, "changetype")?,
            keypool: u32::try_from(config.get_int("keypool", DEFAULT_KEYPOOL))
                .unwrap_or(0)
                .max(1),
        })
    }
}
