//! What the crates cannot say, as a test over the whole workspace (rust-analyzer's tidy idea):
//! every Rust file under `mcp-server/`, `sdk/`, `tests/` and `examples/` starts with a `//!` line
//! and stays within 600 lines. Which layer may use which is not checked here: each crate's
//! `Cargo.toml` says it, and the compiler holds it. Each failure names the rule, the file and
//! why the rule exists, so the fix is obvious without a reviewer.

use std::path::{Path, PathBuf};

/// The trees that hold the workspace's Rust code.
const TREES: [&str; 4] = ["mcp-server", "sdk", "tests", "examples"];
/// Longest a source file may grow before it wants splitting.
const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            // Build output, should a crate's own target directory ever sit inside a tree.
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every Rust file with its path below the workspace root and its text.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for tree in TREES {
        rust_files(&root.join(tree), &mut files);
    }
    files.sort();
    assert!(files.len() > 100, "the tidy test found only {} files: is it looking in the right place?", files.len());
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).expect("below the root").to_string_lossy().replace('\\', "/");
            (rel, std::fs::read_to_string(&p).expect("read a source file"))
        })
        .collect()
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
