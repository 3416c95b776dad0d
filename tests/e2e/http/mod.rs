//! What holds on every HTTP face alike (REST, `/v1`, `/api/mcp`, the pages): the standards at
//! the edges, hostile inputs, id checks before any lookup, and the `/metrics` scrape.

mod adversarial;
mod edges;
mod ids;
mod metrics;
