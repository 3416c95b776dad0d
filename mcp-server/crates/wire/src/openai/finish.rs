//! How an answer ended, in each wire's words, side by side so the tables cannot drift: chat's
//! `finish_reason` as Anthropic's `stop_reason` and as a Responses status, and Anthropic's
//! `stop_reason` and Gemini's `finishReason` as chat's `finish_reason`.

/// Anthropic's `stop_reason` for OpenAI's `finish_reason`, `called`: whether the answer calls a
/// tool (OpenAI says `stop` when `tool_choice` named the function, and the client must still run
/// it). OpenAI's `stop` does not say whether a stop sequence ended the answer, nor which: it
/// reads as `end_turn`.
pub(crate) fn stop_reason(finish: Option<&str>, called: bool) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        Some("tool_calls" | "function_call") => "tool_use",
        _ if called => "tool_use",
        _ => "end_turn",
    }
}

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`; `json_tool`: the answer's `tool_use`
/// is the forced JSON tool that carries a `response_format` answer as text.
pub(super) fn finish_reason_of_anthropic(stop_reason: Option<&str>, json_tool: bool) -> &'static str {
    match stop_reason {
        Some("tool_use") if json_tool => "stop",
        Some("tool_use") => "tool_calls",
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's `finish_reason` for Gemini's `finishReason` (which says `STOP` after calls too);
/// `called`: whether the answer calls a function.
pub(super) fn finish_reason_of_gemini(reason: Option<&str>, called: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("SAFETY" | "RECITATION" | "PROHIBITED_CONTENT" | "BLOCKLIST" | "SPII" | "IMAGE_SAFETY") => {
            "content_filter"
        }
        _ if called => "tool_calls",
        _ => "stop",
    }
}

/// How a response ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct End {
    pub status: &'static str,
    /// Why it is incomplete.
    pub reason: Option<&'static str>,
}

impl End {
    pub(super) const IN_PROGRESS: End = End { status: "in_progress", reason: None };

    /// From chat's `finish_reason`: the output cap or a content filter leave it incomplete.
    pub(super) fn of(finish: Option<&str>) -> End {
        match finish {
            Some("length") => End { status: "incomplete", reason: Some("max_output_tokens") },
            Some("content_filter") => End { status: "incomplete", reason: Some("content_filter") },
            _ => End { status: "completed", reason: None },
        }
    }
}
