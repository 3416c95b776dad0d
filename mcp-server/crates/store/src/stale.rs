//! What a change makes stale. Each cached query has its own generation, so a write invalidates
//! only the kinds of entries it can change (a provider key's new status empties the slot
//! cache, not authentication), locally and, through the notification's payload, on every other
//! replica.

/// A set of cache kinds (a bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stale(u8);

impl Stale {
    /// Nothing a cache reads (usage, leases, the vault's records).
    pub const NONE: Stale = Stale(0);
    /// API keys with their member and organization (plans, settings and roles included).
    pub const AUTH: Stale = Stale(1);
    /// The active key of each slot (its ciphertext and status included).
    pub const KEYS: Stale = Stale(2);
    pub const PROJECTS: Stale = Stale(4);
    /// The provider-key lists (`list_provider_keys`): every row of an organization with its
    /// live health and re-test bookkeeping, which the batched tallies change without touching
    /// the active key of a slot. Whatever makes [`Stale::KEYS`] stale makes these stale too.
    pub const LISTS: Stale = Stale(8);
    /// An organization's budgets.
    pub const BUDGETS: Stale = Stale(16);
    /// Everything: after a lost notification, an unknown payload, another process's SQLite write.
    pub const ALL: Stale = Stale(31);
    /// How many kinds there are (one generation each).
    pub const KINDS: usize = 5;

    pub const fn and(self, other: Stale) -> Stale {
        Stale(self.0 | other.0)
    }

    /// The single kinds in this set, with what they imply (a slot's key changed: so did a list).
    pub fn kinds(self) -> impl Iterator<Item = Stale> {
        let set = if self.0 & Stale::KEYS.0 != 0 { self.0 | Stale::LISTS.0 } else { self.0 };
        [Stale::AUTH, Stale::KEYS, Stale::PROJECTS, Stale::LISTS, Stale::BUDGETS]
            .into_iter()
            .filter(move |k| set & k.0 != 0)
    }

    /// The generation slot of a single kind.
    pub fn index(self) -> usize {
        self.0.trailing_zeros() as usize
    }

    /// As a notification payload, and back (anything unreadable is everything).
    pub fn payload(self) -> String {
        self.0.to_string()
    }

    pub fn from_payload(payload: &str) -> Stale {
        payload.parse::<u8>().ok().filter(|b| *b != 0 && *b <= Stale::ALL.0).map_or(Stale::ALL, Stale)
    }
}
