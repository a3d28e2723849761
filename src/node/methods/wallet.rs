//! Wallet RPCs as the node serves them: the loader methods (createwallet,
//! loadwallet, unloadwallet, listwallets, listwalletdir) run here and start
//! or stop wallet processes; every other wallet method is checked against
//! its signature here (named arguments, types, counts, as for any method)
//! and forwarded, positional, to the wallet process the request addresses.
//! With -disablewallet none of them exist ("Method not found"), as in Core.

use std::rc::Rc;

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use super::{arg, Handler, Method, NodeCtx, Ty};
use crate::node::wallets::{CreateOptions, Wallets};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

type Args = &'static [super::Arg];

/// Wallet methods served by the wallet process: name, arguments, summary.
const FORWARDED: &[(&str, Args, &str)] = &[
    ("abandontransaction", &[("txid", Ty::Str, true)], "Mark in-wallet transaction <txid> as abandoned\nThis will mark this transaction and all its in-wallet descendants as abandoned which will allow\nfor their inputs to be respent."),
    ("bumpfee", &[("txid", Ty::Str, true), ("options", Ty::Obj, false)], "Bumps the fee of a transaction T, replacing it with a new transaction B.\nA transaction with the given txid must be in the wallet."),
    ("encryptwallet", &[("passphrase", Ty::Str, true)], "Encrypts the wallet with 'passphrase'. This is for first time encryption.\nAfter this, any calls that interact with private keys such as sending or signing\nwill require the passphrase to be set prior to making these calls."),
    ("fundrawtransaction", &[("hexstring", Ty::Str, true), ("options", Ty::Any, false), ("iswitness", Ty::Bool, false)], "If the transaction has no inputs, they will be automatically selected to meet its out value.\nIt will add at most one change output to the outputs.\nNo existing outputs will be modified unless \"subtractFeeFromOutputs\" is specified."),
    ("removeprunedfunds", &[("txid", Ty::Str, true)], "(DEPRECATED) Deletes the specified transaction from the wallet (needs -deprecatedrpc=removeprunedfunds)."),
    ("psbtbumpfee", &[("txid", Ty::Str, true), ("options", Ty::Obj, false)], "Bumps the fee of a transaction T, replacing it with a new transaction B.\nReturns a PSBT instead of creating and signing a new transaction."),
    ("send", &[("outputs", Ty::Any, true), ("conf_target", Ty::Num, false), ("estimate_mode", Ty::Str, false), ("fee_rate", Ty::Amount, false), ("options", Ty::Obj, false), ("version", Ty::Num, false)], "EXPERIMENTAL warning: this call may be changed in future releases.\n\nSend a transaction."),
    ("signrawtransactionwithwallet", &[("hexstring", Ty::Str, true), ("prevtxs", Ty::Arr, false), ("sighashtype", Ty::Str, false)], "Sign inputs for raw transaction (serialized, hex-encoded).\nThe second optional argument (may be null) is an array of previous transaction outputs that\nthis transaction depends on but may not yet be in the block chain."),
    ("walletcreatefundedpsbt", &[("inputs", Ty::Arr, false), ("outputs", Ty::Any, true), ("locktime", Ty::Num, false), ("options", Ty::Obj, false), ("bip32derivs", Ty::Bool, false), ("version", Ty::Num, false)], "Creates and funds a transaction in the Partially Signed Transaction format.\nImplements the Creator and Updater roles."),
    ("walletprocesspsbt", &[("psbt", Ty::Str, true), ("sign", Ty::Bool, false), ("sighashtype", Ty::Str, false), ("bip32derivs", Ty::Bool, false), ("finalize", Ty::Bool, false)], "Update a PSBT with input information from our wallet and then sign inputs\nthat we can sign for."),
    ("importdescriptors", &[("requests", Ty::Arr, true)], "Import descriptors. This will trigger a rescan of the blockchain based on the earliest timestamp of all descriptors being imported. Requires a new wallet backup.\nNote: This call can take over an hour to complete if using an early timestamp; during that time, other rpc calls\nmay report that the imported keys, addresses or scripts exist but related transactions are still missing."),
    ("getaddressesbylabel", &[("label", Ty::Str, true)], "Returns the list of addresses assigned the specified label."),
    ("getreceivedbylabel", &[("label", Ty::Str, true), ("minconf", Ty::Num, false), ("include_immature_coinbase", Ty::Bool, false)], "Returns the total amount received by addresses with <label> in transactions with at least [minconf] confirmations."),
    ("listlabels", &[("purpose", Ty::Str, false)], "Returns the list of all labels, or labels that are assigned to addresses with a specific purpose."),
    ("setlabel", &[("address", Ty::Str, true), ("label", Ty::Str, true)], "Sets the label associated with the given address."),
    ("getaddressinfo", &[("address", Ty::Str, true)], "Return information about the given bitcoin address.\nSome of the information will only be present if the address is in the active wallet."),
    ("getbalance", &[("dummy", Ty::Str, false), ("minconf", Ty::Num, false), ("include_watchonly", Ty::Bool, false), ("avoid_reuse", Ty::Bool, false)], "Returns the total available balance.\nThe available balance is what the wallet considers currently spendable, and is\nthus affected by options which limit spendability such as -spendzeroconfchange."),
    ("getbalances", &[], "Returns an object with all balances in BTC."),
    ("getnewaddress", &[("label", Ty::Str, false), ("address_type", Ty::Str, false)], "Returns a new Bitcoin address for receiving payments.\nIf 'label' is specified, it is added to the address book \nso payments received with the address will be associated with 'label'."),
    ("getrawchangeaddress", &[("address_type", Ty::Str, false)], "Returns a new Bitcoin address, for receiving change.\nThis is for use with raw transactions, NOT normal use."),
    ("getreceivedbyaddress", &[("address", Ty::Str, true), ("minconf", Ty::Num, false), ("include_immature_coinbase", Ty::Bool, false)], "Returns the total amount received by the given address in transactions with at least minconf confirmations."),
    ("gettransaction", &[("txid", Ty::Str, true), ("include_watchonly", Ty::Bool, false), ("verbose", Ty::Bool, false)], "Get detailed information about in-wallet transaction <txid>"),
    ("getwalletinfo", &[], "Returns an object containing various wallet state info."),
    ("listdescriptors", &[("private", Ty::Bool, false)], "List all descriptors present in a wallet."),
    ("listlockunspent", &[], "Returns list of temporarily unspendable outputs.\nSee the lockunspent call to lock and unlock transactions for spending."),
    ("listsinceblock", &[("blockhash", Ty::Str, false), ("target_confirmations", Ty::Num, false), ("include_watchonly", Ty::Bool, false), ("include_removed", Ty::Bool, false), ("include_change", Ty::Bool, false), ("label", Ty::Str, false)], "Get all transactions in blocks since block [blockhash], or all transactions if omitted.\nIf \"blockhash\" is no longer a part of the main chain, transactions from the fork point onward are included.\nAdditionally, if include_removed is set, transactions affecting the wallet which were removed are returned in the \"removed\" array."),
    ("listtransactions", &[("label|dummy", Ty::Str, false), ("count", Ty::Num, false), ("skip", Ty::Num, false), ("include_watchonly", Ty::Bool, false)], "If a label name is provided, this will return only incoming transactions paying to addresses with the specified label.\n\nReturns up to 'count' most recent transactions skipping the first 'from' transactions."),
    ("listunspent", &[("minconf", Ty::Num, false), ("maxconf", Ty::Num, false), ("addresses", Ty::Arr, false), ("include_unsafe", Ty::Bool, false), ("query_options", Ty::Obj, false)], "Returns array of unspent transaction outputs\nwith between minconf and maxconf (inclusive) confirmations.\nOptionally filter to only include txouts paid to specified addresses."),
    ("lockunspent", &[("unlock", Ty::Bool, true), ("transactions", Ty::Arr, false), ("persistent", Ty::Bool, false)], "Updates list of temporarily unspendable outputs.\nTemporarily lock (unlock=false) or unlock (unlock=true) specified transaction outputs."),
    ("rescanblockchain", &[("start_height", Ty::Num, false), ("stop_height", Ty::Num, false)], "Rescan the local blockchain for wallet related transactions.\nNote: Use \"getwalletinfo\" to query the scanning progress.\nThe rescan is significantly faster if block filters are available\n(using startup option \"-blockfilterindex=1\")."),
    ("sendmany", &[("dummy", Ty::Str, true), ("amounts", Ty::Obj, true), ("minconf", Ty::Num, false), ("comment", Ty::Str, false), ("subtractfeefrom", Ty::Arr, false), ("replaceable", Ty::Bool, false), ("conf_target", Ty::Num, false), ("estimate_mode", Ty::Str, false), ("fee_rate", Ty::Amount, false), ("verbose", Ty::Bool, false)], "Send multiple times. Amounts are double-precision floating point numbers."),
    ("sendtoaddress", &[("address", Ty::Str, true), ("amount", Ty::Amount, true), ("comment", Ty::Str, false), ("comment_to", Ty::Str, false), ("subtractfeefromamount", Ty::Bool, false), ("replaceable", Ty::Bool, false), ("conf_target", Ty::Num, false), ("estimate_mode", Ty::Str, false), ("avoid_reuse", Ty::Bool, false), ("fee_rate", Ty::Amount, false), ("verbose", Ty::Bool, false)], "Send an amount to a given address."),
    ("settxfee", &[("amount", Ty::Amount, true)], "Set the transaction fee rate in BTC/kvB for this wallet. Overrides the global -paytxfee command line parameter.\nCan be deactivated by passing 0 as the fee. In that case automatic fee selection will be used by default."),
    ("signmessage", &[("address", Ty::Str, true), ("message", Ty::Str, true)], "Sign a message with the private key of an address"),
    ("walletlock", &[], "Removes the wallet encryption key from memory, locking the wallet.\nAfter calling this method, you will need to call walletpassphrase again\nbefore being able to call any methods which require the wallet to be unlocked."),
    ("walletpassphrase", &[("passphrase", Ty::Str, true), ("timeout", Ty::Num, true)], "Stores the wallet decryption key in memory for 'timeout' seconds.\nThis is needed prior to performing transactions related to private keys such as sending bitcoins\n\nNote:\nIssuing the walletpassphrase command while the wallet is already unlocked will set a new unlock\ntime that overrides the old one."),
    ("walletpassphrasechange", &[("oldpassphrase", Ty::Str, true), ("newpassphrase", Ty::Str, true)], "Changes the wallet passphrase from 'oldpassphrase' to 'newpassphrase'."),
];

fn wallets(ctx: &NodeCtx) -> Result<Rc<Wallets>, RpcError> {
    ctx.wallets
        .clone()
        .ok_or_else(crate::rpc::http::method_not_found)
}

pub fn methods() -> Vec<Method> {
    let loader = |name, args, summary, f| Method {
        name,
        category: "wallet",
        args,
        summary,
        handler: Handler::Async(f),
        hidden: false,
    };
    let mut v = vec![
        loader("createwallet", &[("wallet_name", Ty::Str, true), ("disable_private_keys", Ty::Bool, false), ("blank", Ty::Bool, false), ("passphrase", Ty::Str, false), ("avoid_reuse", Ty::Bool, false), ("descriptors", Ty::Bool, false), ("load_on_startup", Ty::Bool, false), ("external_signer", Ty::Bool, false)], "Creates and loads a new wallet.", createwallet),
        loader("loadwallet", &[("filename", Ty::Str, true), ("load_on_startup", Ty::Bool, false)], "Loads a wallet from a wallet file or directory.\nNote that all wallet command-line options used when starting bitcoind will be\napplied to the new wallet.", loadwallet),
        loader("listwallets", &[], "Returns a list of currently loaded wallets.\nFor full information on the wallet, use \"getwalletinfo\"", listwallets),
        loader("listwalletdir", &[], "Returns a list of wallets in the wallet directory.", listwalletdir),
        loader("restorewallet", &[("wallet_name", Ty::Str, true), ("backup_file", Ty::Str, true), ("load_on_startup", Ty::Bool, false)], "Restores and loads a wallet from backup.\n\nThe rescan is significantly faster if block filters are available\n(using startup option \"-blockfilterindex=1\").", restorewallet),
        Method {
            name: "backupwallet",
            category: "wallet",
            args: &[("destination", Ty::Str, true)],
            summary: "Safely copies the current wallet file to the specified destination, which can either be a directory or a path with a filename.",
            handler: Handler::Wallet,
            hidden: false,
        },
        Method {
            name: "unloadwallet",
            category: "wallet",
            args: &[("wallet_name", Ty::Str, false), ("load_on_startup", Ty::Bool, false)],
            summary: "Unloads the wallet referenced by the request endpoint or the wallet_name argument.\nIf both are specified, they must be identical.",
            handler: Handler::Wallet,
            hidden: false,
        },
    ];
    v.extend(FORWARDED.iter().map(|(name, args, summary)| Method {
        name,
        category: "wallet",
        args,
        summary,
        handler: Handler::Wallet,
        hidden: false,
    }));
    v
}

/// Runs a wallet method for a request addressed to `uri_wallet`.
pub fn call(
    ctx: Rc<NodeCtx>,
    uri_wallet: Option<String>,
    method: &'static str,
    args: Vec<Value>,
) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
    async move {
        let wallets = wallets(&ctx)?;
        if method == "unloadwallet" {
            return unloadwallet(&wallets, uri_wallet, &args).await;
        }
        if method == "removeprunedfunds"
            && !ctx.deprecated_rpc.iter().any(|d| d == "removeprunedfunds")
        {
            // Core resolves the wallet first, then refuses.
            wallets.resolve(uri_wallet.as_deref())?;
            return Err(RpcError::new(
                code::METHOD_DEPRECATED,
                "DEPRECATION WARNING: This feature will be removed in the next major release. Start bitcoind with the `-deprecatedrpc=removeprunedfunds` option in order to use this.",
            ));
        }
        if method == "backupwallet" {
            let destination = arg::string(&args, 0).unwrap_or_default();
            wallets.backup(uri_wallet.as_deref(), &destination).await?;
            return Ok(Value::Null);
        }
        wallets.call(uri_wallet.as_deref(), method, args).await
    }
    .boxed_local()
}

async fn unloadwallet(
    wallets: &Wallets,
    uri_wallet: Option<String>,
    args: &[Value],
) -> Result<Value, RpcError> {
    let named = arg::string(args, 0);
    let name = match (uri_wallet, named) {
        (Some(u), Some(n)) if u != n => {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                "RPC endpoint wallet and wallet_name parameter specify different wallets",
            ))
        }
        (Some(u), _) => u,
        (None, Some(n)) => n,
        (None, None) => {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                "Either the RPC endpoint wallet or the wallet name parameter must be provided",
            ))
        }
    };
    wallets.unload(&name).await?;
    let mut warnings = Vec::new();
    if let Some(load) = arg::opt(args, 1).and_then(Value::as_bool) {
        warnings.extend(wallets.set_load_on_startup(&name, load).await);
    }
    if warnings.is_empty() {
        Ok(json!({}))
    } else {
        Ok(json!({ "warning": warnings.join("\n") }))
    }
}

/// createwallet/loadwallet: opens the wallet, records load_on_startup when
/// given, and answers with the name and any warnings.
async fn open(
    wallets: &Wallets,
    name: &str,
    create: Option<CreateOptions>,
    load_on_startup: Option<bool>,
) -> Result<Value, RpcError> {
    let warnings = wallets.open(name, create).await?;
    Ok(opened(wallets, name, warnings, load_on_startup).await)
}

/// The answer for a wallet just opened (created, loaded or restored), after
/// recording load_on_startup when given.
async fn opened(
    wallets: &Wallets,
    name: &str,
    mut warnings: Vec<String>,
    load_on_startup: Option<bool>,
) -> Value {
    if let Some(load) = load_on_startup {
        warnings.extend(wallets.set_load_on_startup(name, load).await);
    }
    loaded_result(name, warnings)
}

fn loaded_result(name: &str, warnings: Vec<String>) -> Value {
    let mut r = json!({ "name": name });
    if !warnings.is_empty() {
        r["warnings"] = json!(warnings);
    }
    r
}

fn createwallet(
    ctx: Rc<NodeCtx>,
    args: Vec<Value>,
) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
    async move {
        let wallets = wallets(&ctx)?;
        let name = arg::string(&args, 0).unwrap_or_default();
        let flag = |i| arg::opt(&args, i).and_then(Value::as_bool);
        if flag(5) == Some(false) {
            return Err(RpcError::new(
                code::WALLET_ERROR,
                "descriptors argument must be set to \"true\"; it is no longer possible to create a legacy wallet.",
            ));
        }
        if flag(7) == Some(true) {
            return Err(RpcError::new(
                code::WALLET_ERROR,
                "Compiled without external signing support (required for external signing)",
            ));
        }
        let passphrase = arg::string(&args, 3).unwrap_or_default();
        let disable_private_keys = flag(1).unwrap_or(false);
        if !passphrase.is_empty() && disable_private_keys {
            return Err(RpcError::new(
                code::WALLET_ENCRYPTION_FAILED,
                "Passphrase provided but private keys are disabled. A passphrase is only used to encrypt private keys, so cannot be used for wallets with private keys disabled.",
            ));
        }
        let opts = CreateOptions {
            disable_private_keys,
            blank: flag(2).unwrap_or(false),
            passphrase,
            avoid_reuse: flag(4).unwrap_or(false),
            load_on_startup: flag(6).unwrap_or(false),
        };
        open(&wallets, &name, Some(opts), flag(6)).await
    }
    .boxed_local()
}

fn loadwallet(
    ctx: Rc<NodeCtx>,
    args: Vec<Value>,
) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
    async move {
        let wallets = wallets(&ctx)?;
        let name = arg::string(&args, 0).unwrap_or_default();
        let load = arg::opt(&args, 1).and_then(Value::as_bool);
        open(&wallets, &name, None, load).await
    }
    .boxed_local()
}

fn restorewallet(
    ctx: Rc<NodeCtx>,
    args: Vec<Value>,
) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
    async move {
        let wallets = wallets(&ctx)?;
        let name = arg::string(&args, 0).unwrap_or_default();
        if name.is_empty() {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                "Wallet name cannot be empty",
            ));
        }
        let source = arg::string(&args, 1).unwrap_or_default();
        let warnings = wallets.restore(&name, &source).await?;
        let load = arg::opt(&args, 2).and_then(Value::as_bool);
        Ok(opened(&wallets, &name, warnings, load).await)
    }
    .boxed_local()
}

fn listwallets(
    ctx: Rc<NodeCtx>,
    _args: Vec<Value>,
) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
    async move { Ok(json!(wallets(&ctx)?.names())) }.boxed_local()
}

fn listwalletdir(
    ctx: Rc<NodeCtx>,
    _args: Vec<Value>,
) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
    async move {
        let names = wallets(&ctx)?.wallet_dir().await?;
        let list: Vec<Value> = names
            .into_iter()
            .map(|name| json!({ "name": name }))
            .collect();
        Ok(json!({ "wallets": list }))
    }
    .boxed_local()
}
