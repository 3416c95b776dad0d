//! Append-only schema migrations of the SQLite backend. Each entry runs once, in order, inside a
//! transaction, and the applied version is kept in `PRAGMA user_version`. Never edit an entry
//! that has shipped: add one. Within a release, migrations are additive (new tables, new
//! nullable columns), so the previous binary keeps working on the migrated schema.

use rusqlite::Connection;

use crate::{StoreError, StoreResult};

/// Applies pending migrations; refuses a schema newer than this binary knows.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::SchemaTooNew { found: current, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

const MIGRATIONS: &[&str] = &[
    // 1: tenancy, API keys, audit.
    r#"
    CREATE TABLE organizations (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        plan              TEXT NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
        rate_limit_per_min INTEGER,          -- enterprise only
        monthly_tokens    INTEGER,           -- enterprise only
        ai_enabled        INTEGER NOT NULL DEFAULT 1,
        ai_tone           TEXT,
        created_at        TEXT NOT NULL
    );
    CREATE TABLE members (
        id         TEXT PRIMARY KEY,
        org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        email      TEXT NOT NULL,
        role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
        created_at TEXT NOT NULL,
        UNIQUE (org_id, email)
    );
    CREATE TABLE projects (
        id         TEXT PRIMARY KEY,
        org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (org_id, name)
    );
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        lookup_id    TEXT NOT NULL UNIQUE,   -- the non-secret id embedded in the token
        org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        member_id    TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        environment  TEXT NOT NULL CHECK (environment IN ('live', 'test')),
        secret_hash  BLOB NOT NULL,          -- SHA-256 of the whole token
        prefix       TEXT NOT NULL,
        last_four    TEXT NOT NULL,
        expires_at   TEXT,
        last_used_at TEXT,
        revoked_at   TEXT,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX api_keys_org ON api_keys (org_id, created_at);
    CREATE TABLE audit_events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT NOT NULL UNIQUE,
        org_id       TEXT NOT NULL,
        actor_member TEXT,
        actor_email  TEXT,
        actor_key    TEXT,
        action       TEXT NOT NULL,
        object_type  TEXT NOT NULL,
        object_id    TEXT NOT NULL,
        detail       TEXT NOT NULL,
        outcome      TEXT NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX audit_events_org ON audit_events (org_id, seq);
    "#,
    // 2: the provider-key vault.
    r#"
    CREATE TABLE data_keys (
        org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        version         INTEGER NOT NULL,
        wrapped         BLOB NOT NULL,       -- the data key sealed by the master key
        master_version  INTEGER NOT NULL,    -- which master key sealed it (rotation resumes from here)
        created_at      TEXT NOT NULL,
        PRIMARY KEY (org_id, version)
    );
    CREATE TABLE provider_keys (
        id             TEXT PRIMARY KEY,
        org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        project_id     TEXT REFERENCES projects(id) ON DELETE CASCADE,
        environment    TEXT NOT NULL CHECK (environment IN ('live', 'test')),
        provider       TEXT NOT NULL CHECK (provider IN ('openai', 'anthropic', 'gemini', 'deepseek')),
        name           TEXT NOT NULL,
        ciphertext     BLOB NOT NULL,
        data_key_version INTEGER NOT NULL,
        masked         TEXT NOT NULL,
        last_four      TEXT NOT NULL,
        active         INTEGER NOT NULL CHECK (active IN (0, 1)),
        status         TEXT NOT NULL,
        test_status    TEXT,
        test_message   TEXT,
        tested_at      TEXT,
        test_latency_ms INTEGER,
        created_by     TEXT,
        updated_by     TEXT,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL
    );
    -- At most one active key per slot, enforced by the schema, not only by code.
    CREATE UNIQUE INDEX provider_keys_one_active
        ON provider_keys (org_id, ifnull(project_id, ''), environment, provider) WHERE active = 1;
    CREATE INDEX provider_keys_org ON provider_keys (org_id, created_at);
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 3: completions' usage.
    r#"
    CREATE TABLE usage_events (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        org_id        TEXT NOT NULL,
        project_id    TEXT,
        api_key_id    TEXT NOT NULL,
        provider      TEXT NOT NULL,
        model         TEXT NOT NULL,
        key_source    TEXT NOT NULL,
        input_tokens  INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        latency_ms    INTEGER NOT NULL,
        status        TEXT NOT NULL,
        month         TEXT NOT NULL,         -- YYYY-MM (UTC), the allowance period
        created_at    TEXT NOT NULL
    );
    CREATE INDEX usage_events_org_month ON usage_events (org_id, month);
    "#,
    // 4: online master-key rotation keeps the previous wrapping until the new key is in use.
    r#"
    ALTER TABLE data_keys ADD COLUMN wrapped_prev BLOB;
    ALTER TABLE data_keys ADD COLUMN prev_master_version INTEGER;
    "#,
    // 5: usage as daily roll-ups instead of a row per completion (the per-completion insert
    // was the gateway's largest cost at load); existing events are folded in.
    r#"
    CREATE TABLE usage_rollups (
        org_id           TEXT NOT NULL,
        month            TEXT NOT NULL,      -- YYYY-MM (UTC), the allowance period
        day              TEXT NOT NULL,      -- YYYY-MM-DD (UTC)
        project_id       TEXT NOT NULL,      -- '' outside any project
        api_key_id       TEXT NOT NULL,
        provider         TEXT NOT NULL,
        model            TEXT NOT NULL,
        key_source       TEXT NOT NULL,
        status           TEXT NOT NULL,
        requests         INTEGER NOT NULL,
        input_tokens     INTEGER NOT NULL,
        output_tokens    INTEGER NOT NULL,
        latency_ms_total INTEGER NOT NULL,
        latency_ms_max   INTEGER NOT NULL,
        PRIMARY KEY (org_id, month, day, project_id, api_key_id, provider, model, key_source, status)
    ) WITHOUT ROWID;
    INSERT INTO usage_rollups
        SELECT org_id, month, substr(created_at, 1, 10), ifnull(project_id, ''), api_key_id, provider, model,
               key_source, status, count(*), sum(input_tokens), sum(output_tokens), sum(latency_ms), max(latency_ms)
        FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
    DROP TABLE usage_events;
    "#,
    // 6: a cap on each member's active API keys (enterprise organizations set their own).
    r#"
    ALTER TABLE organizations ADD COLUMN api_key_limit INTEGER;
    "#,
    // 7: platform-allowance reservations of calls in flight (released when their usage is
    // written; `expires_at`, unix seconds, frees those of a process that died mid-call).
    // Ephemeral, so neither dumped nor tied to an organization by a foreign key.
    r#"
    CREATE TABLE allowance_reservations (
        id         TEXT PRIMARY KEY,
        org_id     TEXT NOT NULL,
        month      TEXT NOT NULL,
        tokens     INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX allowance_reservations_org ON allowance_reservations (org_id, month);
    "#,
    // 8: the ids of written usage batches (a retry after an ambiguous commit counts once), and
    // leases (one replica at a time does a piece of background work).
    r#"
    CREATE TABLE usage_batches (
        id         TEXT PRIMARY KEY,
        written_at INTEGER NOT NULL        -- unix seconds; kept an hour for retries, then pruned
    );
    CREATE INDEX usage_batches_at ON usage_batches (written_at);
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at INTEGER NOT NULL        -- unix seconds
    );
    "#,
    // 9: live key health (status changes from real traffic, batched failure counts), the
    // background re-test schedule, rotation bookkeeping, the organization's rotation period,
    // and the webhook outbox (ephemeral, so not dumped).
    r#"
    ALTER TABLE provider_keys ADD COLUMN health_status TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_since TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE provider_keys ADD COLUMN health_error TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_error_at TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_success_at TEXT;
    ALTER TABLE provider_keys ADD COLUMN retest_at INTEGER;        -- unix seconds
    ALTER TABLE provider_keys ADD COLUMN retest_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE provider_keys ADD COLUMN secret_at TEXT;
    ALTER TABLE provider_keys ADD COLUMN rotation_notified_at TEXT;
    CREATE INDEX provider_keys_retest ON provider_keys (retest_at) WHERE retest_at IS NOT NULL;
    ALTER TABLE organizations ADD COLUMN key_rotation_days INTEGER;
    CREATE TABLE webhook_outbox (
        id              TEXT PRIMARY KEY,
        body            TEXT NOT NULL,
        created_at      INTEGER NOT NULL,   -- unix seconds
        attempts        INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL    -- unix seconds
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at);
    "#,
    // 10: the web face's sign-in sessions and one-time tokens (login and connect links), by
    // hash only. Ephemeral (hours at most), so neither dumped nor tied by a foreign key: a
    // session whose member or API key is gone ends when it is next read.
    r#"
    CREATE TABLE web_sessions (
        id_hash      TEXT PRIMARY KEY,   -- SHA-256 (hex) of the cookie's value
        org_id       TEXT NOT NULL,
        member_id    TEXT NOT NULL,
        api_key_id   TEXT,               -- the API key it signed in with; NULL for a login link
        created_at   INTEGER NOT NULL,   -- unix seconds (absolute expiry)
        last_seen_at INTEGER NOT NULL    -- unix seconds (idle expiry)
    );
    CREATE TABLE web_tokens (
        hash        TEXT PRIMARY KEY,    -- SHA-256 (hex) of the token
        kind        TEXT NOT NULL,       -- login | connect
        org_id      TEXT NOT NULL,
        member_id   TEXT NOT NULL,       -- who signs in / who asked
        provider    TEXT,
        name        TEXT,
        project_id  TEXT,
        environment TEXT,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        used_at     INTEGER
    );
    "#,
    // 11: every stored time in UTC, whole seconds (`ids::format_time`), so that comparing the
    // text compares instants. An API key's `expires_at` used to keep the offset it was given in,
    // and the per-member cap (`expires_at > created_at`) did not count a key that expires
    // `…T01:28:38-23:00`. Converted by hand: SQLite's date functions refuse offsets past 14
    // hours; past the end of year 9999 in UTC it is that end. Every other stored time was
    // written in UTC already.
    r#"
    UPDATE api_keys SET expires_at = coalesce(
        strftime('%Y-%m-%dT%H:%M:%SZ', substr(expires_at, 1, 10) || ' ' || substr(expires_at, 12, 8),
                 CASE substr(expires_at, 20, 1) WHEN '+' THEN '-' ELSE '+' END
                 || (substr(expires_at, 21, 2) * 60 + substr(expires_at, 24, 2)) || ' minutes'),
        '9999-12-31T23:59:59Z')
    WHERE expires_at GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:[0-9][0-9][+-][0-9][0-9]:[0-9][0-9]';
    "#,
    // 12: one member per email in an organization whatever its case, decided by the schema: it
    // was checked before the insert, so two adds at once could both pass. (Emails are ASCII
    // from this version on; `lower` folds ASCII.) A database that holds two such members (only
    // two adds at one instant could write them) stops here until one of them is removed.
    r#"
    CREATE UNIQUE INDEX members_org_email ON members (org_id, lower(email));
    "#,
    // 13: the provider-side objects whose creation Converra relayed (a stored response's id),
    // by provider key, for the member they were relayed for (`store/relayed.rs`).
    r#"
    CREATE TABLE relayed_objects (
        provider_key_id TEXT NOT NULL,
        kind            TEXT NOT NULL,
        object_id       TEXT NOT NULL,
        org_id          TEXT NOT NULL,
        member_id       TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (provider_key_id, kind, object_id)
    );
    "#,
    // 14: the parts of a completion's tokens the provider reports: prompt tokens read from and
    // written to its cache, output tokens spent reasoning (rows written before count none).
    r#"
    ALTER TABLE usage_rollups ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage_rollups ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage_rollups ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
    "#,
    // 15: when a member first signed in to the web. Sign-in links and sessions expire, so
    // nothing else says whether a member ever did; an admin may hand a new link only to one
    // who never has (`Core::new_sign_in_link_for`).
    r#"
    ALTER TABLE members ADD COLUMN first_signed_in_at TEXT;
    "#,
    // 16: what the completions cost by the price table (`prices/`), in micro-dollars, and how
    // many had no price (their cost is unknown, never 0): every completion counted before.
    r#"
    ALTER TABLE usage_rollups ADD COLUMN cost_micro_usd INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage_rollups ADD COLUMN unpriced_requests INTEGER NOT NULL DEFAULT 0;
    UPDATE usage_rollups SET unpriced_requests = requests;
    "#,
    // 17: budgets (a monthly limit in micro-dollars per scope), the largest cost of each call in
    // flight reserved against them (ephemeral, like the allowance's, so not dumped), the
    // thresholds announced this month, and API keys bound to a project (whose budget they count
    // against). No foreign key: a bound key outliving its project acts nowhere, never everywhere.
    r#"
    CREATE TABLE budgets (
        org_id            TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        scope             TEXT NOT NULL CHECK (scope IN ('organization', 'project', 'api_key', 'member')),
        scope_id          TEXT NOT NULL,   -- '' for the organization
        model             TEXT NOT NULL,   -- `provider/model`, '' for every model
        limit_micro_usd   BIGINT NOT NULL,
        threshold_percent BIGINT NOT NULL,
        updated_at        TEXT NOT NULL,
        PRIMARY KEY (org_id, scope, scope_id, model)
    );
    CREATE TABLE spend_reservations (
        id         TEXT PRIMARY KEY,
        org_id     TEXT NOT NULL,
        month      TEXT NOT NULL,
        project_id TEXT NOT NULL,          -- '' outside any project
        api_key_id TEXT NOT NULL,
        member_id  TEXT NOT NULL,
        model      TEXT NOT NULL,          -- `provider/model`
        micro_usd  BIGINT NOT NULL,
        expires_at BIGINT NOT NULL         -- unix seconds
    );
    CREATE INDEX spend_reservations_org ON spend_reservations (org_id, month);
    CREATE TABLE budget_alerts (
        org_id   TEXT NOT NULL,
        scope    TEXT NOT NULL,
        scope_id TEXT NOT NULL,
        model    TEXT NOT NULL,
        month    TEXT NOT NULL,
        PRIMARY KEY (org_id, scope, scope_id, model, month)
    );
    ALTER TABLE api_keys ADD COLUMN project_id TEXT; -- a key bound to a project acts only in it
    "#,
];

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::MIGRATIONS;
    use crate::Store;

    /// API keys as version 10 stored them: `expires_at` in the offset it was given in.
    const KEYS_AT_10: &str = "
        INSERT INTO organizations (id, name, plan, created_at) VALUES ('org_1', 'acme', 'free', '2026-12-01T00:00:00Z');
        INSERT INTO members (id, org_id, email, role, created_at)
            VALUES ('mem_1', 'org_1', 'owner@example.com', 'owner', '2026-12-01T00:00:00Z');
        INSERT INTO api_keys (id, lookup_id, org_id, member_id, name, environment, secret_hash, prefix, last_four,
                              expires_at, created_at)
        VALUES ('key_west', 'lk_1', 'org_1', 'mem_1', 'k', 'live', zeroblob(32), 'sk_live_', 'abcd',
                '2026-12-08T01:28:38-23:00', '2026-12-06T00:00:00Z'),
               ('key_east', 'lk_2', 'org_1', 'mem_1', 'k', 'live', zeroblob(32), 'sk_live_', 'abcd',
                '2026-12-08T15:00:00+14:00', '2026-12-06T00:00:00Z'),
               ('key_end', 'lk_3', 'org_1', 'mem_1', 'k', 'live', zeroblob(32), 'sk_live_', 'abcd',
                '9999-12-31T23:00:00-23:00', '2026-12-06T00:00:00Z'),
               ('key_utc', 'lk_4', 'org_1', 'mem_1', 'k', 'live', zeroblob(32), 'sk_live_', 'abcd',
                '2027-01-31T00:00:00Z', '2026-12-06T00:00:00Z'),
               ('key_never', 'lk_5', 'org_1', 'mem_1', 'k', 'live', zeroblob(32), 'sk_live_', 'abcd',
                NULL, '2026-12-06T00:00:00Z');";

    #[tokio::test]
    async fn the_upgrade_rewrites_expiries_stored_with_an_offset_in_utc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..10] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 10).unwrap();
        conn.execute_batch(KEYS_AT_10).unwrap();
        drop(conn);

        let store = Store::open_sqlite(&path).await.unwrap();
        let mut expiries: Vec<_> =
            store.api_keys("org_1", None).await.unwrap().into_iter().map(|k| (k.id, k.expires_at)).collect();
        expiries.sort();
        let expected = [
            ("key_east", Some("2026-12-08T01:00:00Z")),
            ("key_end", Some("9999-12-31T23:59:59Z")),
            ("key_never", None),
            ("key_utc", Some("2027-01-31T00:00:00Z")),
            ("key_west", Some("2026-12-09T00:28:38Z")),
        ];
        assert_eq!(expiries, expected.map(|(id, at)| (id.to_owned(), at.map(str::to_owned))));
    }
}
