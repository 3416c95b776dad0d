//! Property tests standing in for a fuzzer (cargo-fuzz needs a nightly toolchain, which this
//! project's machines cannot install): the API-key parser and checksum, the ciphertext blob
//! decoder and the request JSON types never panic on arbitrary input and fail closed.
//! Regression seeds, if proptest ever finds one, land in `proptest-regressions/` (committed).

use converra::Environment;
use converra_server::core::access::token;
use converra_server::core::vault::crypto::{self, Key};
use converra_server::http::extract::parse_json;
use proptest::prelude::*;
use secrecy::ExposeSecret;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn token_parser_never_panics(s in ".{0,80}") {
        let _ = token::parse(&s);
    }

    #[test]
    fn token_parser_accepts_generated_tokens_and_rejects_any_single_change(pos in 8usize..50, c in "[0-9A-Za-z]") {
        let t = token::generate(Environment::Live);
        let real = t.token.expose_secret().to_owned();
        prop_assert_eq!(token::parse(&real).map(|p| p.lookup_id), Some(t.lookup_id));
        let mut bytes = real.clone().into_bytes();
        let pos = pos.min(bytes.len() - 1);
        let replacement = c.as_bytes()[0];
        prop_assume!(bytes[pos] != replacement);
        bytes[pos] = replacement;
        prop_assert!(token::parse(&String::from_utf8(bytes).unwrap()).is_none());
    }

    #[test]
    fn blob_decoder_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..128)) {
        let key = Key::from_bytes([7; 32]);
        prop_assert!(crypto::open(&key, b"aad", &blob).is_err());
    }

    #[test]
    fn a_real_blob_fails_closed_on_any_mutation(msg in proptest::collection::vec(any::<u8>(), 0..64), at in any::<usize>(), flip in 1u8..=255) {
        let key = Key::random();
        let blob = crypto::seal(&key, b"ctx", &msg);
        prop_assert_eq!(crypto::open(&key, b"ctx", &blob).unwrap(), msg);
        let mut bad = blob.clone();
        let at = at % bad.len();
        bad[at] ^= flip;
        prop_assert!(crypto::open(&key, b"ctx", &bad).is_err());
        prop_assert!(crypto::open(&key, b"ctx", &blob[..at]).is_err());
    }

    #[test]
    fn request_types_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_json::<converra::AddProviderKey>(&bytes);
        let _ = parse_json::<converra::CompletionRequest>(&bytes);
        let _ = parse_json::<converra::CreateApiKey>(&bytes);
        let _ = parse_json::<converra::CreateMember>(&bytes);
    }

    #[test]
    fn request_types_reject_wrong_shapes_as_validation_errors(value in arb_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        for result in [
            parse_json::<converra::AddProviderKey>(&bytes).err(),
            parse_json::<converra::CompletionRequest>(&bytes).err(),
            parse_json::<converra::CreateMember>(&bytes).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert_eq!(result.code(), converra::ErrorCode::ValidationError);
        }
    }
}

/// Arbitrary JSON, with the field names the request types use so deep paths are reached.
fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let names = prop_oneof![
        Just("provider".to_owned()),
        Just("name".to_owned()),
        Just("api_key".to_owned()),
        Just("model".to_owned()),
        Just("messages".to_owned()),
        Just("role".to_owned()),
        Just("content".to_owned()),
        Just("email".to_owned()),
        "[a-z]{1,6}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z0-9 -]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(names.clone(), inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
