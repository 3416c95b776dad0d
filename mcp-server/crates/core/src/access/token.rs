//! Converra API key tokens: `sk_{live|test}_` + 12-char lookup id + 24-char secret + 6-char
//! checksum, all base62.
//!
//! - The lookup id is not secret: it finds the row without a scan or a timing oracle on the hash.
//! - The secret has 24 × log2(62) ≈ 143 bits of entropy.
//! - The checksum (CRC-32 of everything before it) rejects typos and random strings before any
//!   database read, so a mistyped key costs nothing and never touches SQLite.
//! - Only SHA-256 of the whole token is stored; it is compared in constant time.

use converra::Environment;
use rand::Rng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOOKUP_LEN: usize = 12;
const SECRET_LEN: usize = 24;
const CHECK_LEN: usize = 6;
const BODY_LEN: usize = LOOKUP_LEN + SECRET_LEN + CHECK_LEN;

/// A token that passed the format and checksum checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken {
    pub environment: Environment,
    pub lookup_id: String,
}

/// A freshly generated token: the secret is shown once, then only its hash is kept.
pub struct NewToken {
    pub token: SecretString,
    pub environment: Environment,
    pub lookup_id: String,
    pub hash: [u8; 32],
    /// `sk_live_` + the lookup id's first six characters: enough to recognise a key in a list.
    pub prefix: String,
    pub last_four: String,
}

fn prefix_of(env: Environment) -> &'static str {
    match env {
        Environment::Live => "sk_live_",
        Environment::Test => "sk_test_",
    }
}

fn checksum(data: &str) -> String {
    let mut n = crc32fast::hash(data.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

fn random_chars(rng: &mut impl Rng, n: usize) -> String {
    (0..n).map(|_| ALPHABET[rng.random_range(0..62)] as char).collect()
}

pub fn generate(environment: Environment) -> NewToken {
    let mut rng = rand::rng();
    let lookup_id = random_chars(&mut rng, LOOKUP_LEN);
    let secret = random_chars(&mut rng, SECRET_LEN);
    let head = format!("{}{lookup_id}{secret}", prefix_of(environment));
    let token = format!("{head}{}", checksum(&head));
    let hash = hash(&token);
    let last_four = token[token.len() - 4..].to_owned();
    let prefix = format!("{}{}", prefix_of(environment), &lookup_id[..6]);
    NewToken { token: SecretString::from(token), environment, lookup_id, hash, prefix, last_four }
}

/// Checks shape and checksum without touching the database.
pub fn parse(token: &str) -> Option<ParsedToken> {
    let (environment, body) = if let Some(body) = token.strip_prefix("sk_live_") {
        (Environment::Live, body)
    } else if let Some(body) = token.strip_prefix("sk_test_") {
        (Environment::Test, body)
    } else {
        return None;
    };
    if body.len() != BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (head, check) = token.split_at(token.len() - CHECK_LEN);
    if checksum(head) != check {
        return None;
    }
    Some(ParsedToken { environment, lookup_id: body[..LOOKUP_LEN].to_owned() })
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn generated_tokens_parse_and_carry_their_lookup_id() {
        for env in [Environment::Live, Environment::Test] {
            let t = generate(env);
            let parsed = parse(t.token.expose_secret()).expect("valid token");
            assert_eq!(parsed.environment, env);
            assert_eq!(parsed.lookup_id, t.lookup_id);
            assert_eq!(t.token.expose_secret().len(), 8 + BODY_LEN);
            assert_eq!(hash(t.token.expose_secret()), t.hash);
        }
    }

    #[test]
    fn any_single_character_typo_is_rejected() {
        let t = generate(Environment::Live);
        let token = t.token.expose_secret().to_owned();
        for i in 8..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(parse(&typo).is_none(), "typo at {i} accepted");
        }
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in ["", "sk_live_", "sk_prod_abc", "sk_live_short", "Bearer x", "sk_test_ü"] {
            assert!(parse(bad).is_none(), "{bad:?} accepted");
        }
        let t = generate(Environment::Test);
        let long = format!("{}x", t.token.expose_secret());
        assert!(parse(&long).is_none());
    }

    // Property tests standing in for a fuzzer (cargo-fuzz needs a nightly toolchain): the
    // parser never panics and fails closed.
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        #[test]
        fn token_parser_never_panics(s in ".{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn token_parser_accepts_generated_tokens_and_rejects_any_single_change(pos in 8usize..50, c in "[0-9A-Za-z]") {
            let t = generate(Environment::Live);
            let real = t.token.expose_secret().to_owned();
            proptest::prop_assert_eq!(parse(&real).map(|p| p.lookup_id), Some(t.lookup_id));
            let mut bytes = real.clone().into_bytes();
            let pos = pos.min(bytes.len() - 1);
            let replacement = c.as_bytes()[0];
            proptest::prop_assume!(bytes[pos] != replacement);
            bytes[pos] = replacement;
            proptest::prop_assert!(parse(&String::from_utf8(bytes).unwrap()).is_none());
        }
    }
}
