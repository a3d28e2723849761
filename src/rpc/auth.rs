//! Who may call: the cookie credentials, -rpcuser/-rpcpassword, and every
//! -rpcauth entry (`user:salt$hmac`, HMAC-SHA256 keyed with the salt over the
//! password, Core's format from share/rpcauth). Comparisons run in constant
//! time.

use base64::Engine;
use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use bitcoin::hex::DisplayHex;

/// A malformed -rpcauth value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid -rpcauth argument.")]
pub struct InvalidRpcAuth;

#[derive(Clone)]
struct SaltedUser {
    user: String,
    salt: String,
    /// Lowercase hex, as written in -rpcauth.
    hash: String,
}

/// Every credential the server accepts.
#[derive(Clone, Default)]
pub struct Auth {
    /// `user:password` pairs: the cookie's and -rpcuser/-rpcpassword's.
    plain: Vec<(String, String)>,
    salted: Vec<SaltedUser>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Auth({} plain, {} rpcauth)",
            self.plain.len(),
            self.salted.len()
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(key);
    engine.input(msg);
    hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

impl Auth {
    /// Builds the credential set. `cookie` is `__cookie__:<hex>`.
    pub fn new(
        cookie: Option<&str>,
        user: Option<&str>,
        password: Option<&str>,
        rpcauth: &[String],
    ) -> Result<Auth, InvalidRpcAuth> {
        let mut auth = Auth::default();
        if let Some((u, p)) = cookie.and_then(|c| c.split_once(':')) {
            auth.plain.push((u.to_string(), p.to_string()));
        }
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            auth.plain
                .push((user.unwrap_or("").to_string(), p.to_string()));
        }
        for entry in rpcauth {
            // Core 31: exactly `user:salt$hash` (one colon, one dollar after
            // it); an empty value is an error too. The hash is kept as text:
            // Core compares it with the lowercase hex of the HMAC, so a
            // malformed one is accepted and never matches.
            let (user, rest) = entry.split_once(':').ok_or(InvalidRpcAuth)?;
            let (salt, hash) = rest.split_once('$').ok_or(InvalidRpcAuth)?;
            if rest.contains(':') || hash.contains('$') {
                return Err(InvalidRpcAuth);
            }
            auth.salted.push(SaltedUser {
                user: user.to_string(),
                salt: salt.to_string(),
                hash: hash.to_string(),
            });
        }
        Ok(auth)
    }

    /// The user an `Authorization` header authenticates, if any.
    pub fn check(&self, header: &str) -> Option<String> {
        let encoded = header.strip_prefix("Basic ")?.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        let mut ok = false;
        for (u, p) in &self.plain {
            ok |= constant_time_eq(u.as_bytes(), user.as_bytes())
                & constant_time_eq(p.as_bytes(), password.as_bytes());
        }
        for s in &self.salted {
            let mac = hmac_sha256(s.salt.as_bytes(), password.as_bytes()).to_lower_hex_string();
            ok |= constant_time_eq(s.user.as_bytes(), user.as_bytes())
                & constant_time_eq(mac.as_bytes(), s.hash.as_bytes());
        }
        ok.then(|| user.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hex::DisplayHex;

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn rpcauth_accepts_the_right_password_only() {
        // Made with Core's share/rpcauth/rpcauth.py algorithm:
        // hmac.new(b"cb77f0957de88ff388cf817ddbc7273", b"secret", "sha256").hexdigest()
        let salt = "cb77f0957de88ff388cf817ddbc7273";
        let hash = hmac_sha256(salt.as_bytes(), b"secret").to_lower_hex_string();
        let auth = Auth::new(None, None, None, &[format!("alice:{salt}${hash}")]).unwrap();
        assert_eq!(auth.check(&basic("alice:secret")).as_deref(), Some("alice"));
        assert_eq!(auth.check(&basic("alice:wrong")), None);
        assert_eq!(auth.check(&basic("bob:secret")), None);
    }

    #[test]
    fn known_rpcauth_vector() {
        // python3 -c 'import hmac;print(hmac.new(b"a1b2c3",b"pw","sha256").hexdigest())'
        let entry = "u:a1b2c3$8843222f6240ccaacfb85ab35f4e1a79d3f28921cd9ef8af101f508e8cfe20e1";
        let auth = Auth::new(None, None, None, &[entry.to_string()]).unwrap();
        assert_eq!(auth.check(&basic("u:pw")).as_deref(), Some("u"));
        assert_eq!(auth.check(&basic("u:pW")), None);
    }

    #[test]
    fn cookie_and_user_password_and_malformed_entries() {
        let auth = Auth::new(Some("__cookie__:abc"), Some("u"), Some("p"), &[]).unwrap();
        assert_eq!(
            auth.check(&basic("__cookie__:abc")).as_deref(),
            Some("__cookie__")
        );
        assert_eq!(auth.check(&basic("u:p")).as_deref(), Some("u"));
        assert_eq!(auth.check(&basic("u:x")), None);
        assert_eq!(auth.check("Bearer x"), None);
        assert_eq!(auth.check("Basic !!!"), None);
        for bad in [
            "",
            "nouser",
            "u:salt",
            "u:s$00$11",
            "foo:bar:baz",
            "foo$bar:baz",
        ] {
            assert_eq!(
                Auth::new(None, None, None, &[bad.to_string()]).unwrap_err(),
                InvalidRpcAuth
            );
        }
        // Core's shape checks only: a hash that is no HMAC never matches.
        let auth = Auth::new(None, None, None, &["u$x:s$zz".to_string()]).unwrap();
        assert_eq!(auth.check(&basic("u$x:zz")), None);
    }
}
