//! What lets one statement text, one decoder and one method body serve both engines.
//!
//! - [`Sql`]: a statement written once, in PostgreSQL's form (`$1`, `$2`, …), and rewritten
//!   once for SQLite (see [`for_sqlite`]).
//! - [`Value`]: a parameter both drivers bind (only types whose SQL meaning is the same in
//!   both: text, `BIGINT`, boolean, bytes; a `u32` must say `i64::from` first).
//! - [`Row`] and [`FromRow`]: a row read the same way from either driver, so each row type
//!   has one decoder.
//! - [`Conn`]: a connection or transaction of either engine. A method body is one `async`
//!   block over `&impl Conn`; `Store` runs it on its backend (`read!`/`write!` in `mod.rs`).
//!   SQLite's `Conn` never waits (rusqlite is synchronous, and runs on the blocking pool), so
//!   there the body is polled to completion at once ([`ready`]).

use std::str::FromStr;
use std::sync::OnceLock;

use super::{Stale, StoreResult};

/// One statement, in PostgreSQL's form.
pub(crate) struct Sql {
    text: &'static str,
    sqlite: OnceLock<String>,
}

impl Sql {
    pub const fn new(text: &'static str) -> Self {
        Self { text, sqlite: OnceLock::new() }
    }

    pub fn postgres(&self) -> &str {
        self.text
    }

    pub fn sqlite(&self) -> &str {
        self.sqlite.get_or_init(|| for_sqlite(self.text))
    }
}

/// PostgreSQL's statement as SQLite reads it. The two differences we write around:
/// - `$N` becomes `?N`: SQLite reads `$1` as a *named* parameter, numbered in order of first
///   appearance, so `SET x = $3 WHERE id = $1` would bind the wrong values;
/// - `FOR UPDATE` is dropped: SQLite has no row locks, and a write transaction there already
///   holds the database's one write lock (`BEGIN IMMEDIATE`), which is what the row lock buys
///   on PostgreSQL.
fn for_sqlite(text: &str) -> String {
    let text = text.replace(" FOR UPDATE", "");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter either driver binds the same way.
pub(crate) trait Value: Sync {
    fn sqlite(&self) -> &dyn rusqlite::ToSql;
    fn postgres(&self) -> &(dyn tokio_postgres::types::ToSql + Sync);
}

macro_rules! values {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn sqlite(&self) -> &dyn rusqlite::ToSql {
                self
            }
            fn postgres(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
                self
            }
        }
    )*};
}

values!(
    &str,
    String,
    i64,
    bool,
    Vec<u8>,
    &[u8],
    Option<&str>,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<&[u8]>
);

/// A column value either driver reads the same way.
pub(crate) trait Column: Sized + rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}

impl Column for String {}
impl Column for Option<String> {}
impl Column for i64 {}
impl Column for Option<i64> {}
impl Column for bool {}
impl Column for Vec<u8> {}
impl Column for Option<Vec<u8>> {}

/// A row of either driver.
pub(crate) trait Row {
    fn get<T: Column>(&self, i: usize) -> StoreResult<T>;

    /// A text column that holds a wire enum (a role, a plan, a status).
    fn parse<T: FromStr>(&self, table: &'static str, i: usize) -> StoreResult<T> {
        super::parse_col(table, &self.get::<String>(i)?)
    }

    fn parse_opt<T: FromStr>(&self, table: &'static str, i: usize) -> StoreResult<Option<T>> {
        self.get::<Option<String>>(i)?.map(|s| super::parse_col(table, &s)).transpose()
    }

    /// A `BIGINT` column that holds a `u32` (versions, limits, counts).
    fn u32(&self, i: usize) -> StoreResult<u32> {
        Ok(self.get::<i64>(i)? as u32)
    }

    fn opt_u32(&self, i: usize) -> StoreResult<Option<u32>> {
        Ok(self.get::<Option<i64>>(i)?.map(|n| n as u32))
    }

    fn u64(&self, i: usize) -> StoreResult<u64> {
        Ok(self.get::<i64>(i)? as u64)
    }

    fn opt_u64(&self, i: usize) -> StoreResult<Option<u64>> {
        Ok(self.get::<Option<i64>>(i)?.map(|n| n as u64))
    }
}

impl Row for rusqlite::Row<'_> {
    fn get<T: Column>(&self, i: usize) -> StoreResult<T> {
        Ok(rusqlite::Row::get(self, i)?)
    }
}

impl Row for tokio_postgres::Row {
    fn get<T: Column>(&self, i: usize) -> StoreResult<T> {
        Ok(self.try_get(i)?)
    }
}

/// The columns of a row from an offset on, as a row of their own: a join's parts are read by
/// their own decoders.
pub(crate) struct At<'r, R>(pub &'r R, pub usize);

impl<R: Row> Row for At<'_, R> {
    fn get<T: Column>(&self, i: usize) -> StoreResult<T> {
        self.0.get(self.1 + i)
    }
}

/// A row type's one decoder.
pub(crate) trait FromRow: Sized {
    fn from_row(r: &impl Row) -> StoreResult<Self>;
}

/// A row read for its lock only (`SELECT 1 … FOR UPDATE`).
impl FromRow for () {
    fn from_row(_: &impl Row) -> StoreResult<Self> {
        Ok(())
    }
}

/// A key and the row it names (a meta record, an organization's project or event).
impl<T: FromRow> FromRow for (String, T) {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok((r.get(0)?, T::from_row(&At(r, 1))?))
    }
}

impl FromRow for String {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        r.get(0)
    }
}

impl FromRow for i64 {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        r.get(0)
    }
}

/// A connection or an open transaction of either engine.
pub(crate) trait Conn {
    /// Runs a statement; returns how many rows it changed.
    async fn execute(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<u64>;

    async fn query<T: FromRow>(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<Vec<T>>;

    /// The first row, if any.
    async fn query_opt<T: FromRow>(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<Option<T>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// The first row of a statement that always returns one (a count, a sum).
    async fn query_one<T: FromRow>(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<T> {
        self.query_opt(sql, params).await?.ok_or_else(|| super::StoreError::Corrupt {
            table: "(query)",
            what: "a statement that returns a row returned none".into(),
        })
    }

    /// Serializes the writers of `name` until this transaction ends. PostgreSQL takes an
    /// advisory lock; SQLite's write transaction already excludes every other writer.
    async fn lock(&self, name: &str) -> StoreResult<()>;

    /// [`Conn::lock`] in a transaction of rows a crash may lose (`write!(ephemeral …)`):
    /// PostgreSQL also commits it without waiting for its WAL to reach the disk.
    async fn lock_ephemeral(&self, name: &str) -> StoreResult<()>;

    /// Tells every other replica, on commit, which cached reads `stale` makes stale.
    /// PostgreSQL notifies inside the transaction; SQLite has no notifications (its watch
    /// polls `data_version`).
    async fn notify(&self, stale: Stale) -> StoreResult<()>;
}

/// Polls a future that never waits (a body over SQLite's `Conn`) to its end.
pub(super) fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("a SQLite body awaited something other than its connection"),
    }
}

#[cfg(test)]
mod tests {
    use super::for_sqlite;

    #[test]
    fn sqlite_reads_numbered_parameters_and_no_row_locks() {
        assert_eq!(
            for_sqlite("SELECT a FROM t WHERE b = $12 AND c = '$x' FOR UPDATE"),
            "SELECT a FROM t WHERE b = ?12 AND c = '$x'"
        );
    }
}
