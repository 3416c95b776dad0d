//! The architecture as a test (rust-analyzer's tidy idea): `cargo test` fails when the code
//! stops matching `ARCHITECTURE.md`. Each failure names the rule, the file and why the rule
//! exists, so the fix is obvious without a reviewer.

use std::path::{Path, PathBuf};

/// The faces: thin layers that extract input, call one core function and render the answer.
const FACES: [&str; 4] = ["http", "mcp", "cli", "web"];
/// What sits behind the core; only the core (and `app.rs`, which wires everything) reaches it.
const BEHIND_CORE: [&str; 3] = ["store", "providers", "buckets"];
/// Longest a source file may grow before it wants splitting.
const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file with its path below `src/` and its text.
fn sources() -> Vec<(String, String)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("below src/").to_string_lossy().replace('\\', "/");
            (rel, std::fs::read_to_string(&p).expect("read a source file"))
        })
        .collect()
}

/// The top-level module a file belongs to (`http/error.rs` → `http`, `app.rs` → `app`).
fn module_of(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The crate modules a file names in code (`crate::store`, `use crate::{store, …}`), comments
/// left out.
fn crate_modules_used(text: &str) -> Vec<String> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let mut used = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inside = group.split('}').next().unwrap_or_default();
            used.extend(inside.split(',').map(|item| item.trim().split("::").next().unwrap_or_default().to_owned()));
        } else {
            used.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    used.retain(|m| !m.is_empty());
    used.sort();
    used.dedup();
    used
}

#[test]
fn faces_reach_the_store_and_the_providers_only_through_the_core() {
    let mut broken = Vec::new();
    for (rel, text) in sources() {
        let module = module_of(&rel);
        if !FACES.contains(&module) {
            continue;
        }
        for used in crate_modules_used(&text) {
            if BEHIND_CORE.contains(&used.as_str()) {
                broken.push(format!("{rel} uses crate::{used}"));
            }
            if FACES.contains(&used.as_str()) && used != module {
                broken.push(format!("{rel} uses the {used} face"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "A face reached past the core or into another face:\n  {}\n\
         Faces stay thin and interchangeable: permissions, validation and storage live in core/ \
         once (call a core function instead); what two faces share belongs in a neutral module \
         (like edge/), not in one of them.",
        broken.join("\n  ")
    );
}

#[test]
fn the_core_never_reaches_a_face() {
    let mut broken = Vec::new();
    for (rel, text) in sources() {
        if module_of(&rel) != "core" {
            continue;
        }
        for used in crate_modules_used(&text) {
            if FACES.contains(&used.as_str()) || used == "app" || used == "config" {
                broken.push(format!("{rel} uses crate::{used}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "core/ reached a face or the wiring:\n  {}\n\
         The core is the rules every face shares; it knows nothing of HTTP, MCP, the command line \
         or configuration, so that each face can change without touching it.",
        broken.join("\n  ")
    );
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let missing: Vec<_> =
        sources().into_iter().filter(|(_, text)| !text.trim_start().starts_with("//!")).map(|(rel, _)| rel).collect();
    assert!(
        missing.is_empty(),
        "These files lack a `//!` line at the top:\n  {}\n\
         A newcomer reads the first line of a file to know whether it is the one to change.",
        missing.join("\n  ")
    );
}

#[test]
fn no_source_file_grows_past_600_lines() {
    let long: Vec<_> = sources()
        .into_iter()
        .map(|(rel, text)| (rel, text.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(rel, n)| format!("{rel}: {n} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "These files passed {MAX_LINES} lines:\n  {}\n\
         Split by purpose before a file becomes the one nobody dares to touch.",
        long.join("\n  ")
    );
}

#[test]
fn the_import_reader_sees_grouped_and_plain_uses() {
    let text = "//! x\nuse crate::{store::Store, core::Core};\nfn f() { crate::providers::x(); } // crate::http";
    assert_eq!(crate_modules_used(text), ["core", "providers", "store"]);
    assert_eq!(module_of("http/error.rs"), "http");
    assert_eq!(module_of("app.rs"), "app");
}
