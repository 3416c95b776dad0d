//! The agent wires, with no behaviour of their own: OpenAI's (`openai`: Chat Completions, the
//! Responses API, embeddings) and Anthropic's Messages (`anthropic`), each a request read at its
//! top level and spliced in place, the usage read from an answer, and the translations between
//! them and to Gemini. Neutral: the providers send these bodies, the core chooses between
//! forwarding and translating, and the faces render the answers; none of them imports another
//! for it.

pub mod anthropic;
#[cfg(test)]
mod fixtures;
pub mod openai;
