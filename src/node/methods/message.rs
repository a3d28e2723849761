//! Signed messages (Core's util RPCs): signmessagewithprivkey and
//! verifymessage, on rust-bitcoin's BIP137-style compact signatures over the
//! "Bitcoin Signed Message" hash. Only P2PKH addresses verify, as in Core.

use std::sync::LazyLock;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::sign_message::{signed_msg_hash, MessageSignature};
use bitcoin::{Address, NetworkKind, PrivateKey};
use serde_json::Value;

use super::{arg, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

static SECP: LazyLock<Secp256k1<All>> = LazyLock::new(Secp256k1::new);

pub fn methods() -> Vec<Method> {
    let m = |name, args, summary, f| Method {
        name,
        category: "Util",
        args,
        summary,
        handler: Sync(f),
        hidden: false,
    };
    vec![
        m(
            "signmessagewithprivkey",
            &[("privkey", Ty::Str, true), ("message", Ty::Str, true)],
            "Sign a message with the private key of an address",
            signmessagewithprivkey,
        ),
        m(
            "verifymessage",
            &[
                ("address", Ty::Str, true),
                ("signature", Ty::Str, true),
                ("message", Ty::Str, true),
            ],
            "Verify a signed message.",
            verifymessage,
        ),
    ]
}

fn signmessagewithprivkey(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let wif = arg::string(args, 0).unwrap_or_default();
    let message = arg::string(args, 1).unwrap_or_default();
    let key = PrivateKey::from_wif(&wif)
        .ok()
        .filter(|k| k.network == NetworkKind::from(ctx.chain.network()))
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid private key"))?;
    let hash = signed_msg_hash(&message);
    let msg = bitcoin::secp256k1::Message::from_digest(hash.to_byte_array());
    let signature = MessageSignature {
        signature: SECP.sign_ecdsa_recoverable(&msg, &key.inner),
        compressed: key.compressed,
    };
    Ok(signature.to_base64().into())
}

fn verifymessage(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let text = arg::string(args, 0).unwrap_or_default();
    let signature = arg::string(args, 1).unwrap_or_default();
    let message = arg::string(args, 2).unwrap_or_default();
    let address = text
        .parse::<Address<bitcoin::address::NetworkUnchecked>>()
        .ok()
        .and_then(|a| a.require_network(ctx.chain.network()).ok())
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid address"))?;
    let Some(pkh) = address.pubkey_hash() else {
        return Err(RpcError::new(
            code::TYPE_ERROR,
            "Address does not refer to key",
        ));
    };
    let signature = MessageSignature::from_base64(&signature)
        .map_err(|_| RpcError::new(code::TYPE_ERROR, "Malformed base64 encoding"))?;
    // A key that cannot be recovered, or another key: not signed by it.
    let signed = signature
        .recover_pubkey(&SECP, signed_msg_hash(&message))
        .is_ok_and(|key| key.pubkey_hash() == pkh);
    Ok(signed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_recovers_the_signing_key_only() {
        let key =
            PrivateKey::from_wif("cUeKHd5orzT3mz8P9pxyREHfsWtVfgsfDjiZZBcjUBAaGk1BTj7N").unwrap();
        let hash = signed_msg_hash("hello");
        let msg = bitcoin::secp256k1::Message::from_digest(hash.to_byte_array());
        let sig = MessageSignature {
            signature: SECP.sign_ecdsa_recoverable(&msg, &key.inner),
            compressed: true,
        };
        let back = MessageSignature::from_base64(&sig.to_base64()).unwrap();
        let pk = key.public_key(&SECP);
        assert_eq!(back.recover_pubkey(&SECP, hash).unwrap(), pk);
        assert_ne!(
            back.recover_pubkey(&SECP, signed_msg_hash("other"))
                .unwrap(),
            pk
        );
    }
}
