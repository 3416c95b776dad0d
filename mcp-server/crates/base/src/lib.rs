//! The leaf of the server's crates: object ids and time helpers (`ids`), the one domain error
//! every layer returns (`error`) and the addresses of the links handed to people (`links`). It depends on no other server crate, so that the store,
//! the wires, the providers and the adapters can all name an id or an error without reaching up.

pub mod error;
pub mod ids;
pub mod links;

pub use error::{AuthError, Error, ErrorShape, InternalError, ProviderAnswer, RateLimitInfo, Result};
