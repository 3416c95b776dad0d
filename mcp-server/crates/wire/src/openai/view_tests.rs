//! Tests of the top-level view: duplicates refused by name, escaped names read as the provider
//! reads them, and (a property standing in for a fuzzer) the forwarded bytes equal the
//! client's everywhere outside the spliced top-level values.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Attachments, ChatView, json_string};
use converra_base::Error;

fn field_of(e: Error) -> Option<String> {
    match e {
        Error::Validation { field, .. } => field,
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn a_duplicate_top_level_key_is_refused_by_name_even_when_escaped() {
    let twice = br#"{"model":"gpt-4o","messages":[],"max_tokens":5,"max_tokens":50000}"#;
    assert_eq!(field_of(ChatView::parse(twice).err().unwrap()).as_deref(), Some("max_tokens"));
    let escaped = br#"{"model":"gpt-4o","messages":[],"mod\u0065l":"o3"}"#;
    assert_eq!(field_of(ChatView::parse(escaped).err().unwrap()).as_deref(), Some("model"));
    // The same name nested is not a top-level duplicate.
    let nested = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"metadata":{"model":"a"}}"#;
    assert_eq!(ChatView::parse(nested).unwrap().model, "gpt-4o");
}

#[test]
fn a_duplicate_among_many_members_is_refused_too() {
    let many: String = (0..40).map(|i| format!(",\"m{i}\":{i}")).collect();
    let body = format!(r#"{{"model":"gpt-4o","messages":[]{many}}}"#);
    assert!(ChatView::parse(body.as_bytes()).is_ok());
    let twice = format!(r#"{{"model":"gpt-4o","messages":[]{many},"m7":0}}"#);
    assert_eq!(field_of(ChatView::parse(twice.as_bytes()).err().unwrap()).as_deref(), Some("m7"));
    let early = format!(r#"{{"model":"gpt-4o","model":"o3","messages":[]{many}}}"#);
    assert_eq!(field_of(ChatView::parse(early.as_bytes()).err().unwrap()).as_deref(), Some("model"));
}

#[test]
fn the_top_level_is_checked_and_nothing_below_it() {
    for (body, field) in [
        (&br#"{"messages":[]}"#[..], Some("model")),
        (br#"{"model":5,"messages":[]}"#, Some("model")),
        (br#"{"model":"m","messages":{}}"#, Some("messages")),
        (br#"{"model":"m","messages":[],"stream":"yes"}"#, Some("stream")),
        (br#"[1]"#, None),
        (br#"{"model":"m","messages":[]} trailing"#, None),
    ] {
        assert_eq!(
            field_of(ChatView::parse(body).err().unwrap()).as_deref(),
            field,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let view = ChatView::parse(br#"{"model":"m","messages":[{"anything":{"deep":[1,2]}}],"stream":true,"stream_options":{"include_usage":true},"n":2}"#).unwrap();
    assert!(view.stream && view.include_usage);
    assert_eq!(view.n, 2);
}

#[test]
fn splices_replace_values_in_place_and_add_missing_ones_at_the_front() {
    let body = b" {\"model\" : \"openai/gpt-4o\",\n \"messages\":[],\"stream\":true, \"stream_options\":{\"x\":1,\"include_usage\":false}}";
    let view = ChatView::parse(body).unwrap();
    let options = view.stream_options_with_usage();
    assert_eq!(options, r#"{"x":1,"include_usage":true}"#);
    let out = view.spliced(&[("model", "\"gpt-4o\""), ("stream_options", &options), ("max_tokens", "16")]);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        " {\"max_tokens\":16,\"model\" : \"gpt-4o\",\n \"messages\":[],\"stream\":true, \"stream_options\":{\"x\":1,\"include_usage\":true}}"
    );
}

#[test]
fn attachments_count_by_number_not_bytes() {
    let image = format!("data:image/png;base64,{}", "A".repeat(100_000));
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": image}}]}]});
    let bytes = serde_json::to_vec(&body).unwrap();
    let size = ChatView::parse(&bytes).unwrap().prompt_size();
    assert_eq!(size.attachments, 1);
    assert!(size.bytes < 200, "{size:?}");
    let text = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#;
    assert_eq!(ChatView::parse(text).unwrap().prompt_size().attachments, 0);
}

#[test]
fn every_attachment_type_is_counted_and_only_as_a_whole_string() {
    for part in [
        json!({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}),
        json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
        json!({"type": "file", "file": {"file_id": "file-1"}}),
        json!({"type": "input_image", "image_url": "https://example.com/a.png"}),
    ] {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [part]}]});
        let size = ChatView::parse(&serde_json::to_vec(&body).unwrap()).unwrap().prompt_size();
        assert_eq!(size.attachments, 1, "{body}");
    }
    // A type's name inside text, or as the start of a longer string, is no attachment.
    let text = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "the \"image_url\" part"}, {"type": "filed"}, {"type": "input_images"}]}]});
    assert_eq!(ChatView::parse(&serde_json::to_vec(&text).unwrap()).unwrap().prompt_size().attachments, 0);
}

/// Arbitrary JSON values, with escapes, unicode and nesting in names and strings.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "[\"\\\\/ a-zé😀\t\n\u{1}]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_\"\\\\]{1,6}|model|messages", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Writes a body the way different clients do: compact or pretty, the fields in any order.
fn write_body(model: &str, others: &[(String, Value)], pretty: bool) -> Vec<u8> {
    let mut members: Vec<(String, Value)> = others.to_vec();
    members.insert(members.len() / 2, ("model".into(), Value::from(model)));
    members.insert(0, ("messages".into(), json!([{"role": "user", "content": "hi"}])));
    let sep = if pretty { ",\n  " } else { "," };
    let items: Vec<String> = members
        .iter()
        .map(|(k, v)| {
            let v = if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() };
            format!("{}:{}", json_string(k), v)
        })
        .collect();
    format!("{{{}}}", items.join(sep)).into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn forwarded_bytes_equal_the_clients_outside_the_spliced_model(
        others in proptest::collection::btree_map("[a-z_]{1,12}|[a-z]{1,4}\"[a-z]{1,4}|[a-z]{1,3}\\\\u00e9", arb_json(), 0..6),
        prefix in prop_oneof![Just(""), Just("openai/"), Just("deepseek/")],
        pretty in any::<bool>(),
    ) {
        // Any field but those the view reads and checks the type of (a wrong type there is refused).
        let checked = ["model", "messages", "n", "stream", "stream_options"];
        let others: Vec<(String, Value)> = others.into_iter().filter(|(k, _)| !checked.contains(&k.as_str())).collect();
        let sent = write_body(&format!("{prefix}gpt-4o-mini"), &others, pretty);
        let view = ChatView::parse(&sent).unwrap();
        let forwarded = view.spliced(&[("model", "\"gpt-4o-mini\"")]);
        // Byte for byte: the client's body with the model's value replaced, nothing else moved.
        let old = json_string(&format!("{prefix}gpt-4o-mini"));
        let at = sent.windows(old.len()).position(|w| w == old.as_bytes()).unwrap();
        let mut expected = sent[..at].to_vec();
        expected.extend_from_slice(b"\"gpt-4o-mini\"");
        expected.extend_from_slice(&sent[at + old.len()..]);
        prop_assert_eq!(String::from_utf8_lossy(&forwarded), String::from_utf8_lossy(&expected));
    }

    #[test]
    fn a_body_with_a_repeated_top_level_name_is_always_refused(
        name in "[a-z_]{1,10}",
        first in arb_json(),
        second in arb_json(),
    ) {
        let body = format!(
            "{{\"model\":\"gpt-4o\",\"messages\":[],{}:{},{}:{}}}",
            json_string(&name), first, json_string(&name), second
        );
        let refused = ChatView::parse(body.as_bytes()).err().map(field_of);
        prop_assert_eq!(refused, Some(Some(name)));
    }

    #[test]
    fn the_attachment_search_finds_a_quoted_type_exactly_where_a_substring_search_does(
        text in "([\"a-z_ ]|image_url|input_audio|input_image|file){0,24}",
    ) {
        let kinds = Attachments::new(&["image_url", "input_audio", "file", "input_image"]);
        let expected = ["\"image_url\"", "\"input_audio\"", "\"file\"", "\"input_image\""].iter().any(|k| text.contains(k));
        prop_assert_eq!(kinds.maybe_in(&text), expected, "{}", text);
    }

    #[test]
    fn the_view_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(view) = ChatView::parse(&bytes) {
            let _ = view.prompt_size();
            let _ = view.spliced(&[("model", "\"m\""), ("stream_options", &view.stream_options_with_usage())]);
        }
    }
}
