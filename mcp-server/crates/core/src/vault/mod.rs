//! The provider-key vault: envelope encryption, slots and rotation, masking, testing and
//! resolution. Crypto lives only here.

mod connect;
pub mod crypto;
mod environments;
mod format;
mod keyring;
mod keys;
mod migrate;
mod resolve;
mod rotation;
mod succession;

pub use connect::ConnectRequest;
pub use crypto::{CryptoError, Key};
pub use keyring::{Keyring, MasterKeyError};
pub use migrate::Migration;
pub use resolve::ResolvedKey;
pub use rotation::MasterRotation;
pub use succession::{RemovalPreview, flagged_by_test, known_to_work, was_active_before, works};
