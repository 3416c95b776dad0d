//! Append-only schema migrations of the PostgreSQL backend, applied at start under a
//! session-level advisory lock so that replicas starting together migrate once. The applied
//! version is the one row of `converra_schema`. Never edit an entry that has shipped: add one.
//! Within a release, migrations are additive (new tables, new nullable columns), so the
//! previous binary keeps working during a rolling upgrade; a binary refuses a schema newer than
//! it knows. (Versions count separately from SQLite's: this history starts at SQLite's 5.)

use deadpool_postgres::Object;

use crate::{StoreError, StoreResult};

/// Any constant shared by every Converra replica: "cnvrmig" in ASCII.
const LOCK: i64 = 0x0063_6e76_726d_6967;

pub(super) async fn migrate(client: &mut Object) -> StoreResult<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK]).await?;
    let result = apply(client).await;
    // Released even when a migration failed; closing the session would release it too.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]).await;
    result?;
    unlocked?;
    Ok(())
}

async fn apply(client: &mut Object) -> StoreResult<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS converra_schema (
                 one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
                 version BIGINT NOT NULL
             );
             INSERT INTO converra_schema (version) VALUES (0) ON CONFLICT DO NOTHING;",
        )
        .await?;
    let current: i64 = client.query_one("SELECT version FROM converra_schema", &[]).await?.get(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::SchemaTooNew { found: current, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute("UPDATE converra_schema SET version = $1", &[&(index as i64 + 1)]).await?;
        tx.commit().await?;
    }
    Ok(())
}

const MIGRATIONS: &[&str] = &[
    // 1: the whole schema as SQLite has it at its version 5.
    r#"
    CREATE TABLE organizations (
        id                 TEXT PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE,
        plan               TEXT NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
        rate_limit_per_min BIGINT,           -- enterprise only
        monthly_tokens     BIGINT,           -- enterprise only
        ai_enabled         BOOLEAN NOT NULL DEFAULT TRUE,
        ai_tone            TEXT,
        created_at         TEXT NOT NULL
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
        lookup_id    TEXT NOT NULL UNIQUE,
        org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        member_id    TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        environment  TEXT NOT NULL CHECK (environment IN ('live', 'test')),
        secret_hash  BYTEA NOT NULL,
        prefix       TEXT NOT NULL,
        last_four    TEXT NOT NULL,
        expires_at   TEXT,
        last_used_at TEXT,
        revoked_at   TEXT,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX api_keys_org ON api_keys (org_id, created_at);
    CREATE TABLE audit_events (
        seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    CREATE TABLE data_keys (
        org_id              TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        version             BIGINT NOT NULL,
        wrapped             BYTEA NOT NULL,
        master_version      BIGINT NOT NULL,
        created_at          TEXT NOT NULL,
        wrapped_prev        BYTEA,
        prev_master_version BIGINT,
        PRIMARY KEY (org_id, version)
    );
    CREATE TABLE provider_keys (
        id               TEXT PRIMARY KEY,
        org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        project_id       TEXT REFERENCES projects(id) ON DELETE CASCADE,
        environment      TEXT NOT NULL CHECK (environment IN ('live', 'test')),
        provider         TEXT NOT NULL CHECK (provider IN ('openai', 'anthropic', 'gemini', 'deepseek')),
        name             TEXT NOT NULL,
        ciphertext       BYTEA NOT NULL,
        data_key_version BIGINT NOT NULL,
        masked           TEXT NOT NULL,
        last_four        TEXT NOT NULL,
        active           BOOLEAN NOT NULL,
        status           TEXT NOT NULL,
        test_status      TEXT,
        test_message     TEXT,
        tested_at        TEXT,
        test_latency_ms  BIGINT,
        created_by       TEXT,
        updated_by       TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    -- At most one active key per slot, enforced by the schema, not only by code.
    CREATE UNIQUE INDEX provider_keys_one_active
        ON provider_keys (org_id, coalesce(project_id, ''), environment, provider) WHERE active;
    CREATE INDEX provider_keys_org ON provider_keys (org_id, created_at);
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE usage_rollups (
        org_id           TEXT NOT NULL,
        month            TEXT NOT NULL,
        day              TEXT NOT NULL,
        project_id       TEXT NOT NULL,      -- '' outside any project
        api_key_id       TEXT NOT NULL,
        provider         TEXT NOT NULL,
        model            TEXT NOT NULL,
        key_source       TEXT NOT NULL,
        status           TEXT NOT NULL,
        requests         BIGINT NOT NULL,
        input_tokens     BIGINT NOT NULL,
        output_tokens    BIGINT NOT NULL,
        latency_ms_total BIGINT NOT NULL,
        latency_ms_max   BIGINT NOT NULL,
        PRIMARY KEY (org_id, month, day, project_id, api_key_id, provider, model, key_source, status)
    );
    "#,
    // 2: a cap on each member's active API keys (enterprise organizations set their own).
    r#"
    ALTER TABLE organizations ADD COLUMN api_key_limit BIGINT;
    "#,
    // 3: platform-allowance reservations of calls in flight (SQLite's 7).
    r#"
    CREATE TABLE allowance_reservations (
        id         TEXT PRIMARY KEY,
        org_id     TEXT NOT NULL,
        month      TEXT NOT NULL,
        tokens     BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX allowance_reservations_org ON allowance_reservations (org_id, month);
    "#,
    // 4: written usage batches and leases (SQLite's 8).
    r#"
    CREATE TABLE usage_batches (
        id         TEXT PRIMARY KEY,
        written_at BIGINT NOT NULL        -- unix seconds; kept an hour for retries, then pruned
    );
    CREATE INDEX usage_batches_at ON usage_batches (written_at);
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at BIGINT NOT NULL        -- unix seconds
    );
    "#,
    // 5: live key health, the re-test schedule, rotation, the webhook outbox (SQLite's 9).
    r#"
    ALTER TABLE provider_keys ADD COLUMN health_status TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_since TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_failures BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE provider_keys ADD COLUMN health_error TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_error_at TEXT;
    ALTER TABLE provider_keys ADD COLUMN health_success_at TEXT;
    ALTER TABLE provider_keys ADD COLUMN retest_at BIGINT;
    ALTER TABLE provider_keys ADD COLUMN retest_attempts BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE provider_keys ADD COLUMN secret_at TEXT;
    ALTER TABLE provider_keys ADD COLUMN rotation_notified_at TEXT;
    CREATE INDEX provider_keys_retest ON provider_keys (retest_at) WHERE retest_at IS NOT NULL;
    ALTER TABLE organizations ADD COLUMN key_rotation_days BIGINT;
    CREATE TABLE webhook_outbox (
        id              TEXT PRIMARY KEY,
        body            TEXT NOT NULL,
        created_at      BIGINT NOT NULL,
        attempts        BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at);
    "#,
    // 6 (SQLite's 10): the web face's sign-in sessions and one-time tokens (login and connect links), by
    // hash only. Ephemeral (hours at most), so neither dumped nor tied by a foreign key: a
    // session whose member or API key is gone ends when it is next read.
    r#"
    CREATE TABLE web_sessions (
        id_hash      TEXT PRIMARY KEY,   -- SHA-256 (hex) of the cookie's value
        org_id       TEXT NOT NULL,
        member_id    TEXT NOT NULL,
        api_key_id   TEXT,               -- the API key it signed in with; NULL for a login link
        created_at   BIGINT NOT NULL,   -- unix seconds (absolute expiry)
        last_seen_at BIGINT NOT NULL    -- unix seconds (idle expiry)
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
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL,
        used_at     BIGINT
    );
    "#,
    // 7 (SQLite's 11): every stored time in UTC, whole seconds (`ids::format_time`), so that
    // comparing the text compares instants. An API key's `expires_at` used to keep the offset
    // it was given in, and the per-member cap (`expires_at > created_at`) did not count a key
    // that expires `…T01:28:38-23:00`. Converted by hand: PostgreSQL refuses offsets past 15
    // hours; past the end of year 9999 in UTC it is that end. Every other stored time was
    // written in UTC already.
    r#"
    UPDATE api_keys SET expires_at = to_char(
        least(
            (substr(expires_at, 1, 10) || ' ' || substr(expires_at, 12, 8))::timestamp
                - (substr(expires_at, 20, 1) || '1')::int
                  * make_interval(hours => substr(expires_at, 21, 2)::int, mins => substr(expires_at, 24, 2)::int),
            '9999-12-31 23:59:59'::timestamp),
        'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    WHERE expires_at ~ '^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$';
    "#,
    // 8 (SQLite's 12): one member per email in an organization whatever its case, decided by
    // the schema: it was checked before the insert, so two adds at once could both pass. A
    // database that holds two such members (only two adds at one instant could write them)
    // stops here until one of them is removed.
    r#"
    CREATE UNIQUE INDEX members_org_email ON members (org_id, lower(email));
    "#,
    // 9 (SQLite's 13): the provider-side objects whose creation Converra relayed (a stored
    // response's id), by provider key, for the member they were relayed for (`store/relayed.rs`).
    r#"
    CREATE TABLE relayed_objects (
        provider_key_id TEXT NOT NULL,
        kind            TEXT NOT NULL,
        object_id       TEXT NOT NULL,
        org_id          TEXT NOT NULL,
        member_id       TEXT NOT NULL,
        created_at      BIGINT NOT NULL,
        PRIMARY KEY (provider_key_id, kind, object_id)
    );
    "#,
    // 10 (SQLite's 14): the parts of a completion's tokens the provider reports: prompt tokens
    // read from and written to its cache, output tokens spent reasoning.
    r#"
    ALTER TABLE usage_rollups ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE usage_rollups ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE usage_rollups ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
    "#,
    // 11 (SQLite's 15): when a member first signed in to the web (`Core::new_sign_in_link_for`).
    r#"
    ALTER TABLE members ADD COLUMN first_signed_in_at TEXT;
    "#,
    // 12 (SQLite's 16): what the completions cost by the price table, in micro-dollars, and how
    // many had no price: every completion counted before.
    r#"
    ALTER TABLE usage_rollups ADD COLUMN cost_micro_usd BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE usage_rollups ADD COLUMN unpriced_requests BIGINT NOT NULL DEFAULT 0;
    UPDATE usage_rollups SET unpriced_requests = requests;
    "#,
    // 13 (SQLite's 17): budgets, the spend reserved against them by calls in flight, the
    // thresholds announced this month, and API keys bound to a project.
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
    use secrecy::SecretString;

    use super::MIGRATIONS;
    use crate::Store;

    /// API keys as version 6 stored them: `expires_at` in the offset it was given in.
    const KEYS_AT_6: &str = "
        INSERT INTO organizations (id, name, plan, created_at) VALUES ('org_1', 'acme', 'free', '2026-12-01T00:00:00Z');
        INSERT INTO members (id, org_id, email, role, created_at)
            VALUES ('mem_1', 'org_1', 'owner@example.com', 'owner', '2026-12-01T00:00:00Z');
        INSERT INTO api_keys (id, lookup_id, org_id, member_id, name, environment, secret_hash, prefix, last_four,
                              expires_at, created_at)
        VALUES ('key_west', 'lk_1', 'org_1', 'mem_1', 'k', 'live', decode(repeat('00', 32), 'hex'), 'sk_live_', 'abcd',
                '2026-12-08T01:28:38-23:00', '2026-12-06T00:00:00Z'),
               ('key_east', 'lk_2', 'org_1', 'mem_1', 'k', 'live', decode(repeat('00', 32), 'hex'), 'sk_live_', 'abcd',
                '2026-12-08T15:00:00+14:00', '2026-12-06T00:00:00Z'),
               ('key_end', 'lk_3', 'org_1', 'mem_1', 'k', 'live', decode(repeat('00', 32), 'hex'), 'sk_live_', 'abcd',
                '9999-12-31T23:00:00-23:00', '2026-12-06T00:00:00Z'),
               ('key_utc', 'lk_4', 'org_1', 'mem_1', 'k', 'live', decode(repeat('00', 32), 'hex'), 'sk_live_', 'abcd',
                '2027-01-31T00:00:00Z', '2026-12-06T00:00:00Z'),
               ('key_never', 'lk_5', 'org_1', 'mem_1', 'k', 'live', decode(repeat('00', 32), 'hex'), 'sk_live_', 'abcd',
                NULL, '2026-12-06T00:00:00Z');";

    #[tokio::test]
    #[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL), installed and started by .ci/run"]
    async fn the_upgrade_rewrites_expiries_stored_with_an_offset_in_utc() {
        let url = crate::contract::fresh_postgres_database().await;
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        for sql in &MIGRATIONS[..6] {
            client.batch_execute(sql).await.unwrap();
        }
        client.batch_execute("CREATE TABLE converra_schema (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), version BIGINT NOT NULL);
                              INSERT INTO converra_schema (version) VALUES (6);").await.unwrap();
        client.batch_execute(KEYS_AT_6).await.unwrap();

        let store = Store::open_postgres(&SecretString::from(url)).await.unwrap();
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
