//! The agent-sized request: a 64 KiB chat body like a coding agent's mid-session turn — a
//! system prompt, a dozen tools with JSON schemas, and a long history of user turns, assistant
//! tool calls, tool results (source files, command output) and answers — generated once,
//! deterministically, and sized to exactly `AGENT_BODY_BYTES` by the last user turn. Driven
//! through every contender at `BENCH_AGENT_CONCURRENCY` connections (default 16): what a large
//! body costs each (CPU per request from `/proc`) and adds (latency over direct).

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::bare::Bare;
use crate::driver::{Cell, Target, drive};
use crate::nginx::Nginx;
use crate::{Converra, env_or, header, ratio, row};

/// The agent body's size: 64 KiB.
pub const AGENT_BODY_BYTES: usize = 64 * 1024;

/// The tools a coding agent declares, with JSON schemas of the usual depth.
fn tools() -> Value {
    let tool = |name: &str, description: &str, properties: Value, required: &[&str]| {
        json!({"type": "function", "function": {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required,
                "additionalProperties": false}}})
    };
    let path = json!({"type": "string", "description": "Path of the file, relative to the repository root."});
    json!([
        tool(
            "read_file",
            "Read a file of the workspace. Returns its text with line numbers; large files are cut at 2,000 lines unless a range is given.",
            json!({"path": path, "offset": {"type": "integer", "minimum": 1, "description": "First line to read."},
                "limit": {"type": "integer", "minimum": 1, "description": "How many lines to read."}}),
            &["path"]
        ),
        tool(
            "write_file",
            "Create or overwrite a file of the workspace with the given text. Prefer edit_file for changes to an existing file.",
            json!({"path": path, "content": {"type": "string", "description": "The whole new text of the file."}}),
            &["path", "content"]
        ),
        tool(
            "edit_file",
            "Replace one exact occurrence of a string in a file. Fails when the string occurs zero times or more than once.",
            json!({"path": path, "old_string": {"type": "string"}, "new_string": {"type": "string"},
                "replace_all": {"type": "boolean", "default": false}}),
            &["path", "old_string", "new_string"]
        ),
        tool(
            "run_shell",
            "Run a shell command in the workspace and return its exit code, standard output and standard error (each cut at 30,000 characters).",
            json!({"command": {"type": "string"}, "timeout_ms": {"type": "integer", "maximum": 600000},
                "description": {"type": "string", "description": "What the command does, in five to ten words."}}),
            &["command"]
        ),
        tool(
            "grep",
            "Search file contents with a regular expression (ripgrep syntax). Returns matching lines with their paths and line numbers.",
            json!({"pattern": {"type": "string"}, "path": {"type": "string"}, "glob": {"type": "string"},
                "case_insensitive": {"type": "boolean"}, "context": {"type": "integer", "minimum": 0, "maximum": 20}}),
            &["pattern"]
        ),
        tool(
            "glob",
            "List the files whose paths match a glob pattern, most recently modified first.",
            json!({"pattern": {"type": "string"}, "path": {"type": "string"}}),
            &["pattern"]
        ),
        tool(
            "list_dir",
            "List a directory's entries with their kinds and sizes.",
            json!({"path": path, "ignore": {"type": "array", "items": {"type": "string"}}}),
            &["path"]
        ),
        tool(
            "web_fetch",
            "Fetch a URL and return its main text converted to Markdown.",
            json!({"url": {"type": "string", "format": "uri"}, "prompt": {"type": "string"}}),
            &["url", "prompt"]
        ),
        tool(
            "todo_write",
            "Replace the session's task list. Use it to plan multi-step work and to show progress.",
            json!({"todos": {"type": "array", "items": {"type": "object", "properties": {
                "content": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                "priority": {"type": "string", "enum": ["high", "medium", "low"]}}, "required": ["content", "status"]}}}),
            &["todos"]
        ),
        tool(
            "task",
            "Start a sub-agent with its own context for a self-contained search or analysis; returns its final report.",
            json!({"description": {"type": "string"}, "prompt": {"type": "string"}}),
            &["description", "prompt"]
        ),
    ])
}

/// A source file as a tool result: Rust-like lines, numbered, different for each `n`.
fn source_file(n: usize, lines: usize) -> String {
    (1..=lines)
        .map(|i| match i % 6 {
            0 => format!("{i:>5}\t    let value_{n}_{i} = registry.lookup(&key_{n}).await?;\n"),
            1 => format!("{i:>5}\t/// Returns the entry for `key_{n}_{i}` when it is present and fresh.\n"),
            2 => format!("{i:>5}\tpub async fn handle_{n}_{i}(state: &State, request: Request) -> Result<Response, Error> {{\n"),
            3 => format!("{i:>5}\t        tracing::debug!(id = %request.id, attempt = {i}, \"retrying after a transient failure\");\n"),
            4 => format!("{i:>5}\t    if entry.expires_at < now {{ return Err(Error::Expired {{ id: entry.id.clone() }}); }}\n"),
            _ => format!("{i:>5}\t}}\n"),
        })
        .collect()
}

/// One round of the session: the user asks, the assistant calls a tool, the tool answers, the
/// assistant says what it found.
fn round(n: usize) -> [Value; 4] {
    let call_id = format!("call_{n:04}abcdefghijklmnopqrst");
    let path = format!("src/handlers/module_{n}.rs");
    [
        json!({"role": "user", "content": format!("Now look at {path}: why does handle_{n}_2 retry forever when the registry is down? Keep the public API as it is.")}),
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": call_id, "type": "function",
            "function": {"name": "read_file", "arguments": json!({"path": path, "offset": 1, "limit": 40}).to_string()}}]}),
        json!({"role": "tool", "tool_call_id": call_id, "content": source_file(n, 30)}),
        json!({"role": "assistant", "content": format!("In {path} the loop in handle_{n}_2 treats every registry error as transient, so a registry that is down is retried without a bound. I will cap the attempts at three and return Error::Unavailable after the last one, leaving the signature unchanged.")}),
    ]
}

/// The agent body for `model`, exactly [`AGENT_BODY_BYTES`] long (never containing
/// `"stream":true`, which the mock reads as a stream request).
pub fn body(model: &str) -> Vec<u8> {
    let system = "You are a coding agent working in the user's repository. Use the tools to read, search and edit files and to run commands; \
        never guess a file's contents. Keep changes small and explain each one. Run the tests after every change. "
        .repeat(6);
    let mut messages = vec![json!({"role": "system", "content": system})];
    let mut n = 0;
    let sized = |messages: &[Value], last: &str| {
        let mut all = messages.to_vec();
        all.push(json!({"role": "user", "content": last}));
        serde_json::to_vec(&json!({"model": model, "messages": all, "tools": tools(), "tool_choice": "auto",
            "parallel_tool_calls": true, "temperature": 0.2, "max_completion_tokens": 8192, "user": "bench-agent"}))
        .unwrap()
    };
    loop {
        let next = round(n);
        let mut longer = messages.clone();
        longer.extend(next);
        if sized(&longer, "").len() > AGENT_BODY_BYTES - 512 {
            break;
        }
        messages = longer;
        n += 1;
    }
    // The last user turn takes up what is left, to the byte.
    let ask = "Good. Apply the same fix to the other handlers and run the tests. ";
    let short = sized(&messages, "").len();
    let last: String = ask.chars().cycle().take(AGENT_BODY_BYTES - short).collect();
    let body = sized(&messages, &last);
    assert_eq!(body.len(), AGENT_BODY_BYTES, "the agent body is sized to the byte");
    assert!(!body.windows(13).any(|w| w == b"\"stream\":true"));
    body
}

/// CPU per request on the agent body, µs: Converra's, the bare pass-through's, nginx's.
pub struct AgentCpu {
    pub converra: f64,
    pub bare: f64,
    pub floor: Option<f64>,
}

/// The agent body through every contender, and each one's cost beside the floors'.
pub async fn cells(
    mock: SocketAddr,
    nginx: Option<&Nginx>,
    bare: &Bare,
    converra: &Converra,
    seconds: f64,
) -> AgentCpu {
    let c = env_or("BENCH_AGENT_CONCURRENCY", 16.0) as usize;
    let (direct_body, body) = (body("gpt-4o-mini"), body("openai/gpt-4o-mini"));
    let chat = |at: SocketAddr, b: &[u8]| Target::new(&format!("http://{at}/v1/chat/completions"), None, &[], b);
    let direct = drive(&chat(mock, &direct_body), c, seconds, None).await;
    let floor = match nginx {
        Some(n) => Some(drive(&chat(n.addr, &direct_body), c, seconds, Some(n.pid())).await),
        None => None,
    };
    let through_bare = drive(&chat(bare.addr, &direct_body), c, seconds, Some(bare.pid())).await;
    let url = format!("{}/v1/chat/completions", converra.server.base);
    let through = drive(&Target::new(&url, Some(&converra.key), &[], &body), c, seconds, Some(converra.pid())).await;
    let turns = serde_json::from_slice::<Value>(&body).unwrap()["messages"].as_array().map_or(0, Vec::len);
    println!(
        "\nA 64 KiB agent request ({} bytes: {turns} messages of history, 10 tools), {c} connections, /v1/chat/completions:\n",
        body.len()
    );
    header();
    row("direct to mock", c, &direct, false);
    if let Some(f) = &floor {
        row("nginx proxy_pass (the floor)", c, f, true);
    }
    row("axum + reqwest (bare)", c, &through_bare, true);
    row("converra /v1/chat/completions", c, &through, true);
    let added = |cell: &Cell| cell.ms(0.5) - direct.ms(0.5);
    println!(
        "\nAgent body — Converra ÷ nginx: CPU/req {} (target ≤ 1.5), added p50 {}; Converra ÷ bare: CPU/req {}, added p50 {}",
        floor.as_ref().map_or("—".into(), |f| ratio(through.cpu_us(), f.cpu_us())),
        floor.as_ref().map_or("—".into(), |f| ratio(added(&through), added(f))),
        ratio(through.cpu_us(), through_bare.cpu_us()),
        ratio(added(&through), added(&through_bare)),
    );
    AgentCpu { converra: through.cpu_us(), bare: through_bare.cpu_us(), floor: floor.as_ref().map(Cell::cpu_us) }
}
