//! The runner both wires' fixture suites share (`openai/fixture_tests.rs`,
//! `anthropic/fixture_tests.rs`): every JSON case of a folder, `{"about", "input", …}`, compared
//! as its suite says; a case whose `known_defect` says how the code differs from the provider's
//! documentation is reported, not failed, until the code is fixed (then the mark must go). A
//! folder without a case fails: a suite that cannot fail proves nothing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use converra_base::Error;
use serde_json::Value;
use serde_json::value::RawValue;

/// One case: its file name, the whole case, and its `input` as the file writes it (a client's
/// member order matters to what a translation names).
pub struct Case {
    pub name: String,
    pub case: Value,
    pub input: Box<RawValue>,
}

/// The folder of `direction` under `src/<wire>/fixtures/`.
pub fn folder(wire: &str, direction: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src").join(wire).join("fixtures").join(direction)
}

/// A refusal as a case writes it: the code and the field it names.
pub fn error_text(e: &Error) -> String {
    match e {
        Error::UnsupportedField { field, .. } => format!("UNSUPPORTED_FIELD {field}"),
        Error::Validation { field, message } => {
            format!("VALIDATION_ERROR {}: {message}", field.as_deref().unwrap_or("-"))
        }
        other => format!("{:?}: {other}", other.code()),
    }
}

/// Runs every case of `folder` through `compare` (what the code produced, what the case
/// expects), failing with every case that differs.
pub fn run(folder: PathBuf, compare: impl Fn(&Case) -> (Value, Value)) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no case; a suite without a case cannot fail", folder.display());
    let (mut failures, mut known) = (String::new(), String::new());
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let case: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        let mut raw: HashMap<String, Box<RawValue>> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let about = case["about"].as_str().unwrap_or_else(|| panic!("{name}: `about` is required")).to_owned();
        let input = raw.remove("input").unwrap_or_else(|| panic!("{name}: `input` is required"));
        let case = Case { name, case, input };
        let (got, want) = compare(&case);
        let name = &case.name;
        let report = |defect: &str| {
            format!(
                "\n== {name}\n   about: {about}\n{defect}   expected:\n{}\n   got:\n{}\n",
                serde_json::to_string_pretty(&want).unwrap_or_default(),
                serde_json::to_string_pretty(&got).unwrap_or_default()
            )
        };
        match (got == want, case.case.get("known_defect").and_then(Value::as_str)) {
            (true, None) => {}
            (false, None) => failures.push_str(&report("")),
            (false, Some(defect)) => known.push_str(&report(&format!("   known defect: {defect}\n"))),
            (true, Some(defect)) => {
                let _ = write!(failures, "\n== {name}\n   passes now: remove its `known_defect` ({defect})\n");
            }
        }
    }
    if !known.is_empty() {
        eprintln!("{}: known differences from the documentation:{known}", folder.display());
    }
    assert!(failures.is_empty(), "{}: cases that fail:{failures}", folder.display());
}

/// What a case expects: `expected` (with `extra`'s members, each the case's own or its
/// default) or `expected_error`, exactly one of them.
pub fn expected(case: &Case, extra: &[(&str, &str, Value)]) -> Value {
    let c = &case.case;
    match (c.get("expected"), c.get("expected_error")) {
        (Some(expected), None) => {
            let mut want = serde_json::json!({"output": expected});
            for (member, from, default) in extra {
                want[*member] = c.get(*from).cloned().unwrap_or_else(|| default.clone());
            }
            want
        }
        (None, Some(error)) => serde_json::json!({"error": error}),
        _ => panic!("{}: exactly one of `expected` and `expected_error` is required", case.name),
    }
}
