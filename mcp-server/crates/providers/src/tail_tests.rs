//! Tests of reading a top-level member from the end: found wherever it stands among the
//! members, never fooled by the same name inside a string or a nested object, and (a property)
//! always the value a full parse reads.

use memchr::memmem::FinderRev;
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::last_member;

fn usage(body: &str) -> Option<&str> {
    last_member::<&RawValue>(body.as_bytes(), &FinderRev::new(b"\"usage\"")).map(|raw| raw.get())
}

#[test]
fn the_top_level_member_is_found_last_or_with_members_after_it() {
    // OpenAI writes service_tier and system_fingerprint after usage.
    let openai = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2},"service_tier":"default","system_fingerprint":"fp_1"}"#;
    assert_eq!(usage(openai), Some(r#"{"prompt_tokens":9,"completion_tokens":2}"#));
    let anthropic = r#"{"id":"msg_1","type":"message","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":2}}"#;
    assert_eq!(usage(anthropic), Some(r#"{"input_tokens":9,"output_tokens":2}"#));
    let pretty = "{\n  \"usage\" :\n {\"prompt_tokens\": 1},\n  \"extra\": [1, {\"usage\": 2}] \n}\n";
    assert_eq!(usage(pretty), Some(r#"{"prompt_tokens": 1}"#));
    assert_eq!(usage(r#"{"choices":[],"usage":null}"#), Some("null"));
}

#[test]
fn the_name_inside_text_or_a_nested_object_is_never_taken_for_it() {
    for body in [
        // In the generated text, escaped, at the very end of the answer.
        r#"{"choices":[{"message":{"content":"say \"usage\":{\"prompt_tokens\":1}}"}}]}"#,
        r#"{"choices":[{"message":{"content":"x\"usage"}}],"n":{"prompt_tokens":1}}"#,
        // A member name holding an escaped quote before the word.
        r#"{"a":1,"x\"usage":{"prompt_tokens":1}}"#,
        r#"{"a":1,"x\\\"usage":{"prompt_tokens":1}}"#,
        // Nested, as the last member of the last object.
        r#"{"choices":[],"meta":{"usage":{"prompt_tokens":1}}}"#,
        r#"[{"usage":{"prompt_tokens":1}}]"#,
        // A value, not a name; and no member at all.
        r#"{"kind":"usage"}"#,
        r#"{"choices":[]}"#,
        // Not JSON after it: the caller's full parse decides.
        r#"{"usage":{"prompt_tokens":1}"#,
        r#"{"usage":{"prompt_tokens":1}} trailing"#,
        r#"{"usage":{"prompt_tokens":1},}"#,
    ] {
        assert_eq!(usage(body), None, "{body}");
    }
    // The top-level one is found behind a nested one that comes later.
    let both = r#"{"usage":{"prompt_tokens":3},"meta":{"usage":{"prompt_tokens":1}}}"#;
    assert_eq!(usage(both), Some(r#"{"prompt_tokens":3}"#));
    // Text that ends in a backslash, right before the member.
    let backslash = r#"{"a":"x\\","usage":{"prompt_tokens":4}}"#;
    assert_eq!(usage(backslash), Some(r#"{"prompt_tokens":4}"#));
}

/// JSON values whose strings and nested names often hold `usage` and what would follow it.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "[\"\\\\ :{}a-z]{0,6}(\"usage\":\\{\"prompt_tokens\":7\\}\\}|usage\\\\|\"usage)".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("usage|[a-z_\"\\\\]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_member_read_from_the_end_is_the_one_a_full_parse_reads(
        others in proptest::collection::btree_map("[a-z_]{1,8}|[a-z]{1,3}\"usage", arb_json(), 0..6),
        value in proptest::option::of(prop_oneof![arb_json(), Just(json!({"prompt_tokens": 12, "completion_tokens": 5}))]),
        position in any::<prop::sample::Index>(),
        pretty in any::<bool>(),
    ) {
        let mut members: Vec<(String, Value)> = others.into_iter().filter(|(k, _)| k != "usage").collect();
        if let Some(value) = value {
            let at = position.index(members.len() + 1);
            members.insert(at, ("usage".into(), value));
        }
        // Written member by member, so that `usage` stands where it was put.
        let write = |v: &Value| if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() };
        let items: Vec<String> = members.iter().map(|(k, v)| format!("{}:{}", write(&Value::from(k.as_str())), write(v))).collect();
        let body = format!("{{{}}}", items.join(if pretty { ",\n  " } else { "," }));
        let full: Value = serde_json::from_str(&body).unwrap();
        let found = usage(&body).map(|raw| serde_json::from_str::<Value>(raw).unwrap());
        prop_assert_eq!(found.as_ref(), full.get("usage"), "{}", body);
    }
}
