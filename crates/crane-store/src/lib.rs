//! SQLite state store (sqlx) implementing [`crane_core::ports::Store`]: apps, revisions, the event log, settings
//! and metric samples (app, instance and metric as columns).
//!
//! **Architecture Invariant:** the schema only changes through files in `migrations/`, applied at open; the store
//! holds no business rules (validation and planning live in `crane-core`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use crane_core::access::Role;
use crane_core::ports::{
    AppScan, AuditRecord, EventRecord, InstanceFilter, PutOutcome, Sample, SampleMetric, Store, StoreError, StoredApp,
    StoredExperiment, StoredLab, StoredPolicy, StoredRevision, StoredToken, StoredUser,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub mod advisories;
pub use advisories::{AdvisoryDb, AdvisoryStatus};

/// Raw samples are kept this long (6 h) before being rolled up into one-minute averages.
pub const RAW_RETENTION_MS: u64 = 6 * 3600 * 1000;
/// One-minute averages are kept this long (7 days).
pub const ROLLUP_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;

/// The `instance` column's value for an app's own series (not NULL, so the rollup's primary key holds it).
const APP_LEVEL: &str = "";

/// Oldest events beyond this count are pruned, so the log stays bounded.
pub const MAX_EVENTS: i64 = 50_000;
/// Oldest audit rows beyond this count are pruned, so the audit log stays bounded.
pub const MAX_AUDIT: i64 = 50_000;

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies pending migrations. The file and its `-wal` and
    /// `-shm` companions are readable by their owner only (0600): SQLite gives the companions the database file's
    /// mode, so the file is created 0600 before SQLite opens it, and an older file is narrowed to 0600.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        make_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL cannot corrupt the database; a power cut may lose the last commits, which the next
            // observation rebuilds (containers) or which were log lines. FULL costs an fsync per event written, and
            // the engine writes an event before it acts on a death.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(options).await
    }

    /// An in-memory store, for tests.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(err)?;
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<SqliteStore, StoreError> {
        // One connection: SQLite serialises writers anyway, and an in-memory database exists per connection.
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(err)?;
        MIGRATOR.run(&pool).await.map_err(err)?;
        Ok(SqliteStore { pool })
    }
}

/// Creates the database file with mode 0600 when missing, and narrows it and its companions to 0600 otherwise.
pub(crate) fn make_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let failed = |p: &Path, e: std::io::Error| StoreError(format!("cannot make {} private: {e}", p.display()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(path, e)),
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            match std::fs::symlink_metadata(&file) {
                Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o777 != 0o600 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| failed(&file, e))?;
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn app_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredApp, StoreError> {
    let spec_json: String = row.try_get("spec_json").map_err(err)?;
    let spec = serde_json::from_str(&spec_json).map_err(|e| StoreError(format!("stored spec is unreadable: {e}")))?;
    let port: Option<i64> = row.try_get("public_port").map_err(err)?;
    Ok(StoredApp {
        spec,
        source_yaml: row.try_get("source_yaml").map_err(err)?,
        revision: row.try_get::<i64, _>("revision").map_err(err)? as u64,
        public_port: port.and_then(|p| u16::try_from(p).ok()),
        created_at: row.try_get::<i64, _>("created_at").map_err(err)? as u64,
        updated_at: row.try_get::<i64, _>("updated_at").map_err(err)? as u64,
        paused: row.try_get::<i64, _>("paused").map_err(err)? != 0,
        generation: row.try_get::<i64, _>("generation").map_err(err)? as u64,
        owner: row.try_get("owner").map_err(err)?,
    })
}

/// A stored role word as a role; a word this version does not know makes the row unreadable.
fn role_from(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError(format!("unknown role '{text}' in the database")))
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredUser, StoreError> {
    Ok(StoredUser {
        name: row.try_get("name").map_err(err)?,
        role: role_from(&row.try_get::<String, _>("role").map_err(err)?)?,
        created_at: row.try_get::<i64, _>("created_at").map_err(err)? as u64,
    })
}

fn token_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredToken, StoreError> {
    Ok(StoredToken {
        id: row.try_get("id").map_err(err)?,
        user: row.try_get("user").map_err(err)?,
        role: role_from(&row.try_get::<String, _>("role").map_err(err)?)?,
        hash: row.try_get("hash").map_err(err)?,
        created_at: row.try_get::<i64, _>("created_at").map_err(err)? as u64,
        label: row.try_get("label").map_err(err)?,
    })
}

fn audit_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id").map_err(err)?,
        at: row.try_get::<i64, _>("at").map_err(err)? as u64,
        user: row.try_get("user").map_err(err)?,
        role: role_from(&row.try_get::<String, _>("role").map_err(err)?)?,
        door: row.try_get("door").map_err(err)?,
        action: row.try_get("action").map_err(err)?,
        app: row.try_get("app").map_err(err)?,
        target: row.try_get("target").map_err(err)?,
        outcome: row.try_get("outcome").map_err(err)?,
    })
}

/// Inserts a token inside a transaction, only when its user exists; whether it was written.
async fn insert_token(tx: &mut sqlx::SqliteConnection, token: &StoredToken) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO tokens (id, user, role, hash, created_at, label)
         SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE name = ?)",
    )
    .bind(&token.id)
    .bind(&token.user)
    .bind(token.role.as_str())
    .bind(&token.hash)
    .bind(token.created_at as i64)
    .bind(&token.label)
    .bind(&token.user)
    .execute(tx)
    .await
    .map_err(err)?;
    Ok(done.rows_affected() > 0)
}

fn revision_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredRevision, StoreError> {
    let spec_json: String = row.try_get("spec_json").map_err(err)?;
    Ok(StoredRevision {
        app: row.try_get("app").map_err(err)?,
        revision: row.try_get::<i64, _>("revision").map_err(err)? as u64,
        spec: serde_json::from_str(&spec_json)
            .map_err(|e| StoreError(format!("stored revision is unreadable: {e}")))?,
        source_yaml: row.try_get("source_yaml").map_err(err)?,
        cause: row.try_get("cause").map_err(err)?,
        created_at: row.try_get::<i64, _>("created_at").map_err(err)? as u64,
    })
}

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<EventRecord, StoreError> {
    let details: String = row.try_get("details").map_err(err)?;
    Ok(EventRecord {
        id: row.try_get("id").map_err(err)?,
        at: row.try_get::<i64, _>("at").map_err(err)? as u64,
        app: row.try_get("app").map_err(err)?,
        instance: row.try_get("instance").map_err(err)?,
        kind: row.try_get("kind").map_err(err)?,
        reason: row.try_get("reason").map_err(err)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn scan_apps(&self) -> Result<AppScan, StoreError> {
        let rows = sqlx::query("SELECT * FROM apps ORDER BY name").fetch_all(&self.pool).await.map_err(err)?;
        let mut scan = AppScan::default();
        for row in &rows {
            match app_from_row(row) {
                Ok(app) => scan.apps.push(app),
                Err(e) => {
                    let name: String = row.try_get("name").unwrap_or_else(|_| "?".to_string());
                    scan.unreadable.push((name, e.0));
                }
            }
        }
        Ok(scan)
    }

    async fn get_app(&self, name: &str) -> Result<Option<StoredApp>, StoreError> {
        let row = sqlx::query("SELECT * FROM apps WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn put_app(&self, app: &StoredApp, revision: Option<&StoredRevision>) -> Result<PutOutcome, StoreError> {
        let spec_json = serde_json::to_string(&app.spec).map_err(err)?;
        let mut tx = self.pool.begin().await.map_err(err)?;
        let generation = app.generation as i64 + 1;
        let written = if app.generation == 0 {
            sqlx::query(
                "INSERT OR IGNORE INTO apps
                   (name, spec_json, source_yaml, revision, public_port, created_at, updated_at, paused, generation,
                    owner)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            )
            .bind(&app.spec.name)
            .bind(&spec_json)
            .bind(&app.source_yaml)
            .bind(app.revision as i64)
            .bind(app.public_port.map(i64::from))
            .bind(app.created_at as i64)
            .bind(app.updated_at as i64)
            .bind(i64::from(app.paused))
            .bind(&app.owner)
            .execute(&mut *tx)
            .await
            .map_err(err)?
        } else {
            sqlx::query(
                "UPDATE apps SET spec_json = ?, source_yaml = ?, revision = ?, public_port = ?, updated_at = ?,
                   paused = ?, generation = ?
                 WHERE name = ? AND generation = ?",
            )
            .bind(&spec_json)
            .bind(&app.source_yaml)
            .bind(app.revision as i64)
            .bind(app.public_port.map(i64::from))
            .bind(app.updated_at as i64)
            .bind(i64::from(app.paused))
            .bind(generation)
            .bind(&app.spec.name)
            .bind(app.generation as i64)
            .execute(&mut *tx)
            .await
            .map_err(err)?
        };
        if written.rows_affected() == 0 {
            // Dropping the transaction rolls it back (nothing was written anyway).
            return Ok(PutOutcome::Stale);
        }
        if let Some(revision) = revision {
            let spec_json = serde_json::to_string(&revision.spec).map_err(err)?;
            sqlx::query(
                "INSERT OR REPLACE INTO revisions (app, revision, spec_json, source_yaml, cause, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&revision.app)
            .bind(revision.revision as i64)
            .bind(spec_json)
            .bind(&revision.source_yaml)
            .bind(&revision.cause)
            .bind(revision.created_at as i64)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            // History stays bounded: the newest revisions, and always the one the app runs.
            sqlx::query(
                "DELETE FROM revisions WHERE app = ? AND revision != ? AND revision NOT IN
                   (SELECT revision FROM revisions WHERE app = ? ORDER BY revision DESC LIMIT ?)",
            )
            .bind(&revision.app)
            .bind(app.revision as i64)
            .bind(&revision.app)
            .bind(crane_core::ports::MAX_REVISIONS as i64)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(PutOutcome::Written { generation: generation as u64 })
    }

    async fn delete_app(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let done = sqlx::query("DELETE FROM apps WHERE name = ?").bind(name).execute(&mut *tx).await.map_err(err)?;
        sqlx::query("DELETE FROM revisions WHERE app = ?").bind(name).execute(&mut *tx).await.map_err(err)?;
        // A new app of the same name starts without the old one's history, NGINX management or metrics.
        sqlx::query("DELETE FROM samples WHERE app = ?").bind(name).execute(&mut *tx).await.map_err(err)?;
        sqlx::query("DELETE FROM samples_1m WHERE app = ?").bind(name).execute(&mut *tx).await.map_err(err)?;
        sqlx::query("DELETE FROM settings WHERE key = ?")
            .bind(format!("nginx:{name}"))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn append_event(&self, mut event: EventRecord) -> Result<EventRecord, StoreError> {
        let done =
            sqlx::query("INSERT INTO events (at, app, instance, kind, reason, details) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(event.at as i64)
                .bind(&event.app)
                .bind(&event.instance)
                .bind(&event.kind)
                .bind(&event.reason)
                .bind(event.details.to_string())
                .execute(&self.pool)
                .await
                .map_err(err)?;
        event.id = done.last_insert_rowid();
        // Prune now and then rather than on every insert: cheap enough and keeps the log bounded.
        if event.id % 1000 == 0 {
            sqlx::query("DELETE FROM events WHERE id <= ?")
                .bind(event.id - MAX_EVENTS)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        }
        Ok(event)
    }

    async fn list_events(
        &self,
        app: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
        )
        .bind(app)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn list_revisions(&self, app: &str) -> Result<Vec<StoredRevision>, StoreError> {
        let rows = sqlx::query("SELECT * FROM revisions WHERE app = ? ORDER BY revision")
            .bind(app)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(revision_from_row).collect()
    }

    async fn append_samples(&self, samples: &[Sample]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        // One transaction per batch: one fsync instead of one per sample.
        let mut tx = self.pool.begin().await.map_err(err)?;
        for s in samples {
            sqlx::query("INSERT INTO samples (app, instance, metric, at, value) VALUES (?, ?, ?, ?, ?)")
                .bind(&s.app)
                .bind(s.instance.as_deref().unwrap_or(APP_LEVEL))
                .bind(s.metric.as_str())
                .bind(s.at as i64)
                .bind(s.value)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn query_samples(
        &self,
        app: &str,
        instance: InstanceFilter<'_>,
        metric: &SampleMetric,
        from: u64,
        to: u64,
    ) -> Result<Vec<Sample>, StoreError> {
        // `?4` selects the instances: NULL for any, '' for the app level only, or one instance's name.
        let instance_param = match instance {
            InstanceFilter::Any => None,
            InstanceFilter::App => Some(APP_LEVEL),
            InstanceFilter::Instance(name) => Some(name),
        };
        let rows = sqlx::query(
            "SELECT instance, at, value FROM samples_1m
               WHERE app = ?1 AND metric = ?2 AND at BETWEEN ?3 AND ?5 AND (?4 IS NULL OR instance = ?4)
             UNION ALL
             SELECT instance, at, value FROM samples
               WHERE app = ?1 AND metric = ?2 AND at BETWEEN ?3 AND ?5 AND (?4 IS NULL OR instance = ?4)
             ORDER BY at",
        )
        .bind(app)
        .bind(metric.as_str())
        .bind(from as i64)
        .bind(instance_param)
        .bind(to as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                let instance: String = r.try_get("instance").map_err(err)?;
                Ok(Sample {
                    app: app.to_string(),
                    instance: (instance != APP_LEVEL).then_some(instance),
                    metric: metric.clone(),
                    at: r.try_get::<i64, _>("at").map_err(err)? as u64,
                    value: r.try_get("value").map_err(err)?,
                })
            })
            .collect()
    }

    async fn compact_samples(&self, now: u64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(RAW_RETENTION_MS) as i64;
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "INSERT OR REPLACE INTO samples_1m (app, instance, metric, at, value, max, count)
             SELECT app, instance, metric, (at / 60000) * 60000 AS minute, AVG(value), MAX(value), COUNT(*)
             FROM samples WHERE at < ? GROUP BY app, instance, metric, minute",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let rolled =
            sqlx::query("DELETE FROM samples WHERE at < ?").bind(cutoff).execute(&mut *tx).await.map_err(err)?;
        sqlx::query("DELETE FROM samples_1m WHERE at < ?")
            .bind(now.saturating_sub(ROLLUP_RETENTION_MS) as i64)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(rolled.rows_affected())
    }

    async fn delete_samples(&self, app: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM samples WHERE app = ?").bind(app).execute(&self.pool).await.map_err(err)?;
        sqlx::query("DELETE FROM samples_1m WHERE app = ?").bind(app).execute(&self.pool).await.map_err(err)?;
        Ok(())
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| r.try_get::<String, _>("value").map_err(err)).transpose()
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn list_users(&self) -> Result<Vec<StoredUser>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY name").fetch_all(&self.pool).await.map_err(err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn create_user(&self, user: &StoredUser, token: Option<&StoredToken>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let done = sqlx::query("INSERT OR IGNORE INTO users (name, role, created_at) VALUES (?, ?, ?)")
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(user.created_at as i64)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(token) = token {
            if !insert_token(&mut tx, token).await? {
                return Err(StoreError(format!("the first token of '{}' names another user", user.name)));
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("DELETE FROM tokens WHERE user = ?").bind(name).execute(&mut *tx).await.map_err(err)?;
        let done = sqlx::query("DELETE FROM users WHERE name = ?").bind(name).execute(&mut *tx).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM tokens ORDER BY created_at, id").fetch_all(&self.pool).await.map_err(err)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn create_token(&self, token: &StoredToken) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        insert_token(&mut conn, token).await
    }

    async fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE id = ?").bind(id).execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn append_audit(&self, mut record: AuditRecord) -> Result<AuditRecord, StoreError> {
        let done = sqlx::query(
            "INSERT INTO audit (at, user, role, door, action, app, target, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(record.at as i64)
        .bind(&record.user)
        .bind(record.role.as_str())
        .bind(&record.door)
        .bind(&record.action)
        .bind(&record.app)
        .bind(&record.target)
        .bind(&record.outcome)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        record.id = done.last_insert_rowid();
        // Pruned now and then like the event log: bounded without a delete on every insert.
        if record.id % 1000 == 0 {
            sqlx::query("DELETE FROM audit WHERE id <= ?")
                .bind(record.id - MAX_AUDIT)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        }
        Ok(record)
    }

    async fn list_audit(
        &self,
        user: Option<&str>,
        app: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR app = ?2) ORDER BY id DESC LIMIT ?3",
        )
        .bind(user)
        .bind(app)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn list_policies(&self) -> Result<Vec<StoredPolicy>, StoreError> {
        let rows = sqlx::query("SELECT name, rego, data, updated_at, updated_by FROM policies ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredPolicy {
                    name: r.try_get("name").map_err(err)?,
                    rego: r.try_get("rego").map_err(err)?,
                    data: r.try_get("data").map_err(err)?,
                    updated_at: r.try_get::<i64, _>("updated_at").map_err(err)?.max(0) as u64,
                    updated_by: r.try_get("updated_by").map_err(err)?,
                })
            })
            .collect()
    }

    async fn put_policy(&self, policy: &StoredPolicy) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO policies (name, rego, data, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(name) DO UPDATE SET rego = excluded.rego, data = excluded.data, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(&policy.name)
        .bind(&policy.rego)
        .bind(&policy.data)
        .bind(policy.updated_at as i64)
        .bind(&policy.updated_by)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn delete_policy(&self, name: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM policies WHERE name = ?").bind(name).execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_labs(&self) -> Result<Vec<StoredLab>, StoreError> {
        let rows = sqlx::query("SELECT id, record, loaded_at FROM labs ORDER BY loaded_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredLab {
                    id: r.try_get("id").map_err(err)?,
                    record: r.try_get("record").map_err(err)?,
                    loaded_at: r.try_get::<i64, _>("loaded_at").map_err(err)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn put_lab(&self, lab: &StoredLab) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO labs (id, record, loaded_at) VALUES (?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET record = excluded.record, loaded_at = excluded.loaded_at",
        )
        .bind(&lab.id)
        .bind(&lab.record)
        .bind(lab.loaded_at as i64)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn delete_lab(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM labs WHERE id = ?").bind(id).execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_experiments(&self) -> Result<Vec<StoredExperiment>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, app, started_at, ended_at, record, '' AS points FROM experiments ORDER BY started_at, name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(experiment_from_row).collect()
    }

    async fn get_experiment(&self, name: &str) -> Result<Option<StoredExperiment>, StoreError> {
        let row = sqlx::query("SELECT name, app, started_at, ended_at, record, points FROM experiments WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(experiment_from_row).transpose()
    }

    async fn put_experiment(&self, run: &StoredExperiment) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO experiments (name, app, started_at, ended_at, record, points) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT(name) DO UPDATE SET app = excluded.app, started_at = excluded.started_at, \
             ended_at = excluded.ended_at, record = excluded.record, points = excluded.points",
        )
        .bind(&run.name)
        .bind(&run.app)
        .bind(run.started_at as i64)
        .bind(run.ended_at.map(|t| t as i64))
        .bind(&run.record)
        .bind(if run.points.is_empty() { "[]" } else { run.points.as_str() })
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn delete_experiment(&self, name: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM experiments WHERE name = ?").bind(name).execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected() > 0)
    }
}

fn experiment_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredExperiment, StoreError> {
    Ok(StoredExperiment {
        name: r.try_get("name").map_err(err)?,
        app: r.try_get("app").map_err(err)?,
        started_at: r.try_get::<i64, _>("started_at").map_err(err)?.max(0) as u64,
        ended_at: r.try_get::<Option<i64>, _>("ended_at").map_err(err)?.map(|t| t.max(0) as u64),
        record: r.try_get("record").map_err(err)?,
        points: r.try_get("points").map_err(err)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_core::spec::AppSpec;

    fn spec(name: &str) -> AppSpec {
        serde_json::from_value(serde_json::json!({"name": name, "image": "crane-demo:0.1.0", "replicas": 2})).unwrap()
    }

    fn app(name: &str) -> StoredApp {
        StoredApp {
            spec: spec(name),
            source_yaml: format!("name: {name}"),
            revision: 1,
            public_port: Some(18080),
            created_at: 1,
            updated_at: 1,
            paused: false,
            generation: 0,
            owner: "alice".into(),
        }
    }

    /// Revision `n` of app `web` with `spec`.
    fn revision(n: u64, spec: AppSpec) -> StoredRevision {
        StoredRevision {
            app: "web".into(),
            revision: n,
            spec,
            source_yaml: String::new(),
            cause: format!("apply {n}"),
            created_at: n,
        }
    }

    /// Writes `stored` with `revision`, which must succeed, and keeps the new generation.
    async fn put_with_revision(store: &SqliteStore, stored: &mut StoredApp, revision: StoredRevision) {
        let PutOutcome::Written { generation } = store.put_app(stored, Some(&revision)).await.unwrap() else {
            panic!("not written");
        };
        stored.generation = generation;
    }

    #[tokio::test]
    async fn apps_round_trip_and_update_in_place() {
        let store = SqliteStore::in_memory().await.unwrap();
        let mut app = app("web");
        assert_eq!(store.put_app(&app, None).await.unwrap(), PutOutcome::Written { generation: 1 });
        app.generation = 1;
        app.revision = 2;
        app.updated_at = 5;
        assert_eq!(store.put_app(&app, None).await.unwrap(), PutOutcome::Written { generation: 2 });
        app.generation = 2;
        let all = store.list_apps().await.unwrap();
        assert_eq!(all, vec![app.clone()]);
        assert_eq!(store.get_app("web").await.unwrap(), Some(app));
        assert!(store.delete_app("web").await.unwrap());
        assert!(!store.delete_app("web").await.unwrap());
        assert_eq!(store.get_app("web").await.unwrap(), None);
    }

    #[tokio::test]
    async fn revision_history_is_bounded_and_keeps_the_current_one() {
        let store = SqliteStore::in_memory().await.unwrap();
        let mut stored = app("web");
        // The app runs revision 1 (an undo went back to it) while 1..=30 are recorded.
        stored.revision = 1;
        for n in 1..=30u64 {
            put_with_revision(&store, &mut stored, revision(n, spec("web"))).await;
        }
        let kept: Vec<u64> = store.list_revisions("web").await.unwrap().iter().map(|r| r.revision).collect();
        let mut expected = vec![1];
        expected.extend(31 - crane_core::ports::MAX_REVISIONS as u64..=30);
        assert_eq!(kept, expected);
    }

    #[tokio::test]
    async fn an_unreadable_row_is_named_and_does_not_hide_the_others() {
        let store = SqliteStore::in_memory().await.unwrap();
        store.put_app(&app("good"), None).await.unwrap();
        store.put_app(&app("bad"), None).await.unwrap();
        sqlx::query("UPDATE apps SET spec_json = '{\"from\": \"a newer Crane\"}' WHERE name = 'bad'")
            .execute(&store.pool)
            .await
            .unwrap();
        let names: Vec<String> = store.list_apps().await.unwrap().into_iter().map(|a| a.spec.name).collect();
        assert_eq!(names, ["good"]);
        let unreadable = store.scan_apps().await.unwrap().unreadable;
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].0, "bad");
        assert!(unreadable[0].1.contains("unreadable"), "{unreadable:?}");
    }

    #[tokio::test]
    async fn a_write_from_a_stale_read_loses() {
        let store = SqliteStore::in_memory().await.unwrap();
        let new = app("web");
        store.put_app(&new, None).await.unwrap();
        // Creating a name that exists is stale too: nothing is overwritten.
        assert_eq!(store.put_app(&new, None).await.unwrap(), PutOutcome::Stale);
        let read = store.get_app("web").await.unwrap().unwrap();
        // A door scales the app...
        let mut scaled = read.clone();
        scaled.spec.replicas = 5;
        assert_eq!(store.put_app(&scaled, None).await.unwrap(), PutOutcome::Written { generation: 2 });
        // ...and a writer deciding from the older read loses instead of undoing the scale.
        let mut decided = read;
        decided.paused = true;
        assert_eq!(store.put_app(&decided, None).await.unwrap(), PutOutcome::Stale);
        let now = store.get_app("web").await.unwrap().unwrap();
        assert_eq!((now.spec.replicas, now.paused, now.generation), (5, false, 2));
        // A deleted app cannot be written back from an old read either.
        store.delete_app("web").await.unwrap();
        assert_eq!(store.put_app(&now, None).await.unwrap(), PutOutcome::Stale);
        assert_eq!(store.get_app("web").await.unwrap(), None);
    }

    #[tokio::test]
    async fn events_are_newest_first_and_filter_by_app() {
        let store = SqliteStore::in_memory().await.unwrap();
        for (i, app) in ["a", "b", "a"].iter().enumerate() {
            store
                .append_event(EventRecord {
                    id: 0,
                    at: i as u64,
                    app: Some(app.to_string()),
                    instance: None,
                    kind: "k".into(),
                    reason: format!("r{i}"),
                    details: serde_json::json!({"i": i}),
                })
                .await
                .unwrap();
        }
        let a = store.list_events(Some("a"), 10, None).await.unwrap();
        assert_eq!(a.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(), ["r2", "r0"]);
        assert_eq!(a[0].details, serde_json::json!({"i": 2}));
        let all = store.list_events(None, 2, None).await.unwrap();
        assert_eq!(all.len(), 2);
        let older = store.list_events(None, 10, Some(all[1].id)).await.unwrap();
        assert_eq!(older.len(), 1);
    }

    #[tokio::test]
    async fn revisions_are_written_with_their_app_and_deleted_with_it() {
        let store = SqliteStore::in_memory().await.unwrap();
        let mut stored = app("web");
        for (n, image) in [(2, "b"), (1, "a")] {
            let mut s = spec("web");
            s.image = image.into();
            put_with_revision(&store, &mut stored, revision(n, s)).await;
        }
        // A stale write writes its revision neither.
        let stale = revision(3, spec("web"));
        stored.generation = 1;
        assert_eq!(store.put_app(&stored, Some(&stale)).await.unwrap(), PutOutcome::Stale);
        let revs = store.list_revisions("web").await.unwrap();
        assert_eq!(revs.iter().map(|r| (r.revision, r.spec.image.as_str())).collect::<Vec<_>>(), [(1, "a"), (2, "b")]);
        store.put_setting("nginx:web", "{}").await.unwrap();
        store.append_samples(&[sample("web", None, SampleMetric::Replicas, 5, 2.0)]).await.unwrap();
        store.delete_app("web").await.unwrap();
        assert!(store.list_revisions("web").await.unwrap().is_empty());
        assert_eq!(store.get_setting("nginx:web").await.unwrap(), None);
        let left = store.query_samples("web", InstanceFilter::Any, &SampleMetric::Replicas, 0, u64::MAX).await.unwrap();
        assert!(left.is_empty(), "a deleted app's samples go with it: {left:?}");
    }

    fn sample(app: &str, instance: Option<&str>, metric: SampleMetric, at: u64, value: f64) -> Sample {
        Sample { app: app.into(), instance: instance.map(Into::into), metric, at, value }
    }

    #[tokio::test]
    async fn samples_are_queried_by_columns_and_rolled_up_when_old() {
        let store = SqliteStore::in_memory().await.unwrap();
        let now = 10 * 3600 * 1000;
        let mut batch = Vec::new();
        for i in 0..120u64 {
            // Two hours ago every 5 s is still raw; eight hours ago gets rolled up.
            batch.push(sample("web", None, SampleMetric::Rps, now - 8 * 3600 * 1000 + i * 1000, i as f64));
            batch.push(sample("web", Some("web-1"), SampleMetric::Rps, now - 2 * 3600 * 1000 + i * 5000, 1.0));
        }
        batch.push(sample("web", Some("web-1"), SampleMetric::Cpu, now, 50.0));
        batch.push(sample("webx", None, SampleMetric::Rps, now, 9.0));
        batch.push(sample("web", None, SampleMetric::Custom("queue_depth".into()), now, 3.0));
        store.append_samples(&batch).await.unwrap();
        let query = |instance, metric| {
            let store = store.clone();
            async move { store.query_samples("web", instance, &metric, 0, now).await.unwrap() }
        };
        assert_eq!(query(InstanceFilter::Any, SampleMetric::Rps).await.len(), 240);
        assert_eq!(query(InstanceFilter::Instance("web-1"), SampleMetric::Cpu).await.len(), 1);
        assert_eq!(query(InstanceFilter::Instance("web-2"), SampleMetric::Rps).await.len(), 0);
        let custom = query(InstanceFilter::App, SampleMetric::Custom("queue_depth".into())).await;
        assert_eq!(custom, [sample("web", None, SampleMetric::Custom("queue_depth".into()), now, 3.0)]);
        let rolled = store.compact_samples(now).await.unwrap();
        assert_eq!(rolled, 120);
        let app_rps = query(InstanceFilter::App, SampleMetric::Rps).await;
        assert_eq!(app_rps.len(), 2, "two one-minute buckets");
        assert!(app_rps.iter().all(|s| s.instance.is_none() && s.app == "web" && s.metric == SampleMetric::Rps));
        assert!((app_rps[0].value - 29.5).abs() < 1e-9, "average of 0..=59: {app_rps:?}");
        let web1 = query(InstanceFilter::Instance("web-1"), SampleMetric::Rps).await;
        assert_eq!(web1.len(), 120, "recent samples stay raw");
        assert_eq!(web1[0].instance.as_deref(), Some("web-1"));
        store.delete_samples("web").await.unwrap();
        assert!(query(InstanceFilter::Any, SampleMetric::Rps).await.is_empty());
        assert_eq!(
            store.query_samples("webx", InstanceFilter::Any, &SampleMetric::Rps, 0, now).await.unwrap().len(),
            1
        );
    }

    /// The database and its WAL companions are private to their owner, also when an older file was not.
    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let path = dir.join("crane.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.put_setting("k", "v").await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        for name in ["crane.db", "crane.db-wal", "crane.db-shm"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        store.pool.close().await;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(mode(&path), 0o600, "an older world-readable database is narrowed");
    }

    /// Rows written under migration 3 (one `series` string) survive migration 4 as columns.
    #[tokio::test]
    async fn migration_4_splits_old_series_into_columns() {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        MIGRATOR.run_to(3, &pool).await.unwrap();
        for (series, at) in [("web/rps", 1), ("web/web-1/cpu", 2), ("web/latency_p95_ms", 3)] {
            sqlx::query("INSERT INTO samples (series, at, value) VALUES (?, ?, 1.0)")
                .bind(series)
                .bind(at)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO samples_1m (series, at, value, max, count) VALUES ('web/web-2/rps', 0, 2.0, 3.0, 30)")
            .execute(&pool)
            .await
            .unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        let store = SqliteStore { pool };
        let get = |instance, metric| {
            let store = store.clone();
            async move { store.query_samples("web", instance, &metric, 0, 10).await.unwrap() }
        };
        let rps = get(InstanceFilter::Any, SampleMetric::Rps).await;
        assert_eq!(
            rps.iter().map(|s| (s.instance.as_deref(), s.at, s.value)).collect::<Vec<_>>(),
            [(Some("web-2"), 0, 2.0), (None, 1, 1.0)]
        );
        assert_eq!(get(InstanceFilter::Instance("web-1"), SampleMetric::Cpu).await.len(), 1);
        assert_eq!(get(InstanceFilter::App, SampleMetric::LatencyP95Ms).await.len(), 1);
    }

    fn user(name: &str, role: Role) -> StoredUser {
        StoredUser { name: name.into(), role, created_at: 7 }
    }

    fn token(id: &str, user: &str, role: Role) -> StoredToken {
        StoredToken {
            id: id.into(),
            user: user.into(),
            role,
            hash: format!("hash-of-{id}"),
            created_at: 8,
            label: Some(format!("label {id}")),
        }
    }

    #[tokio::test]
    async fn users_and_their_tokens() {
        let store = SqliteStore::in_memory().await.unwrap();
        assert!(store
            .create_user(&user("alice", Role::Operator), Some(&token("a1", "alice", Role::Operator)))
            .await
            .unwrap());
        // A second user of the same name is refused, and its token is not written either.
        assert!(!store
            .create_user(&user("alice", Role::Admin), Some(&token("a2", "alice", Role::Admin)))
            .await
            .unwrap());
        assert!(store.create_user(&user("bob", Role::Viewer), None).await.unwrap());
        assert!(store.create_token(&token("b1", "bob", Role::Viewer)).await.unwrap());
        assert!(!store.create_token(&token("x1", "nobody", Role::Viewer)).await.unwrap(), "no token without a user");
        assert!(store.create_token(&token("b1", "bob", Role::Viewer)).await.is_err(), "ids are unique");

        let users = store.list_users().await.unwrap();
        assert_eq!(users, [user("alice", Role::Operator), user("bob", Role::Viewer)]);
        let tokens = store.list_tokens().await.unwrap();
        assert_eq!(tokens, [token("a1", "alice", Role::Operator), token("b1", "bob", Role::Viewer)]);

        assert!(store.delete_token("b1").await.unwrap());
        assert!(!store.delete_token("b1").await.unwrap());
        assert!(store.create_token(&token("a3", "alice", Role::Viewer)).await.unwrap());
        // Removing a user removes every token of theirs, and nothing else.
        assert!(store.delete_user("alice").await.unwrap());
        assert!(!store.delete_user("alice").await.unwrap());
        assert!(store.list_tokens().await.unwrap().is_empty());
        assert_eq!(store.list_users().await.unwrap(), [user("bob", Role::Viewer)]);
    }

    /// An app keeps the owner it was created with: later writes do not change it.
    #[tokio::test]
    async fn an_app_keeps_its_owner() {
        let store = SqliteStore::in_memory().await.unwrap();
        store.put_app(&app("web"), None).await.unwrap();
        let mut read = store.get_app("web").await.unwrap().unwrap();
        assert_eq!(read.owner, "alice");
        read.owner = "mallory".into();
        read.spec.replicas = 4;
        store.put_app(&read, None).await.unwrap();
        let now = store.get_app("web").await.unwrap().unwrap();
        assert_eq!((now.owner.as_str(), now.spec.replicas), ("alice", 4));
    }

    /// Apps from before users existed belong to the built-in admin.
    #[tokio::test]
    async fn migration_6_gives_old_apps_to_admin() {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        MIGRATOR.run_to(5, &pool).await.unwrap();
        sqlx::query(
            "INSERT INTO apps (name, spec_json, source_yaml, revision, public_port, created_at, updated_at)
             VALUES ('web', ?, 'name: web', 1, NULL, 1, 1)",
        )
        .bind(serde_json::to_string(&spec("web")).unwrap())
        .execute(&pool)
        .await
        .unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        let store = SqliteStore { pool };
        assert_eq!(store.get_app("web").await.unwrap().unwrap().owner, "admin");
    }

    fn audit(user: &str, app: Option<&str>, outcome: &str) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: 5,
            user: user.into(),
            role: Role::Operator,
            door: "cli".into(),
            action: "app.scale".into(),
            app: app.map(Into::into),
            target: None,
            outcome: outcome.into(),
        }
    }

    #[tokio::test]
    async fn audit_rows_are_newest_first_filtered_and_bounded() {
        let store = SqliteStore::in_memory().await.unwrap();
        store.append_audit(audit("alice", Some("web"), "ok")).await.unwrap();
        store.append_audit(audit("bob", Some("web"), "forbidden")).await.unwrap();
        let last = store.append_audit(audit("alice", None, "ok")).await.unwrap();
        assert_eq!(last.id, 3);
        let all = store.list_audit(None, None, 10).await.unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(all[1], AuditRecord { id: 2, ..audit("bob", Some("web"), "forbidden") });
        let alice = store.list_audit(Some("alice"), None, 10).await.unwrap();
        assert_eq!(alice.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 1]);
        let web = store.list_audit(None, Some("web"), 1).await.unwrap();
        assert_eq!(web.iter().map(|r| r.id).collect::<Vec<_>>(), [2]);
        assert_eq!(store.list_audit(Some("alice"), Some("web"), 10).await.unwrap().len(), 1);
        // The log is bounded: once ids pass MAX_AUDIT, the oldest rows go.
        sqlx::query(
            "INSERT INTO audit (id, at, user, role, door, action, outcome) VALUES (?, 0, 'x', 'viewer', 'rest', 'a', 'ok')",
        )
        .bind(MAX_AUDIT + 999)
        .execute(&store.pool)
        .await
        .unwrap();
        store.append_audit(audit("carol", None, "ok")).await.unwrap();
        let left = store.list_audit(None, None, 10).await.unwrap();
        assert_eq!(left.iter().map(|r| r.id).collect::<Vec<_>>(), [MAX_AUDIT + 1000, MAX_AUDIT + 999]);
    }

    #[tokio::test]
    async fn policies_are_replaced_and_deleted() {
        let store = SqliteStore::in_memory().await.unwrap();
        assert!(store.list_policies().await.unwrap().is_empty());
        let mut policy = StoredPolicy {
            name: "admission".into(),
            rego: "package crane.admission".into(),
            data: "{}".into(),
            updated_at: 5,
            updated_by: "admin".into(),
        };
        store.put_policy(&policy).await.unwrap();
        policy.rego.push_str("\n# edited");
        policy.updated_at = 6;
        store.put_policy(&policy).await.unwrap();
        assert_eq!(store.list_policies().await.unwrap(), [policy]);
        assert!(store.delete_policy("admission").await.unwrap());
        assert!(!store.delete_policy("admission").await.unwrap());
        assert!(store.list_policies().await.unwrap().is_empty());
    }

    /// An experiment run round-trips whole (record and points), lists without its points, is replaced in place when
    /// it ends, and outlives its app and the app's samples.
    #[tokio::test]
    async fn experiments_round_trip_and_outlive_their_app() {
        use crane_core::experiment::{Run, RunEnd, RunPoint, Settings};
        let store = SqliteStore::in_memory().await.unwrap();
        let mut stored = app("web");
        store.put_app(&stored, None).await.unwrap();
        stored.generation = 1;
        let mut run = Run {
            name: "stab-10s".into(),
            app: "web".into(),
            recorded_by: "alice".into(),
            started_at: 1_000,
            ended_at: None,
            planned_ms: Some(30_000),
            after_ms: 10_000,
            settings: Settings::from_spec(&stored.spec, 1),
            load: None,
            end: None,
            point_count: 0,
            points: Vec::new(),
        };
        let row = |run: &Run| StoredExperiment {
            name: run.name.clone(),
            app: run.app.clone(),
            started_at: run.started_at,
            ended_at: run.ended_at,
            record: serde_json::to_string(&Run { points: Vec::new(), ..run.clone() }).unwrap(),
            points: serde_json::to_string(&run.points).unwrap(),
        };
        // While recording: no points yet.
        store.put_experiment(&StoredExperiment { points: String::new(), ..row(&run) }).await.unwrap();
        let got = store.get_experiment("stab-10s").await.unwrap().expect("the run");
        assert_eq!((got.ended_at, got.points.as_str()), (None, "[]"));
        // Ended: the same row with its points.
        run.ended_at = Some(41_000);
        run.end = Some(RunEnd::LoadFinished);
        run.points = (0..3)
            .map(|i| RunPoint { at: 2_000 + i * 2_000, replicas: Some(1.0 + i as f64), ..RunPoint::default() })
            .collect();
        store.put_experiment(&row(&run)).await.unwrap();
        let mut other = run.clone();
        other.name = "stab-60s".into();
        other.started_at = 100_000;
        store.put_experiment(&row(&other)).await.unwrap();
        let got = store.get_experiment("stab-10s").await.unwrap().expect("the run");
        assert_eq!(got, row(&run));
        let mut back: Run = serde_json::from_str(&got.record).unwrap();
        back.points = serde_json::from_str(&got.points).unwrap();
        assert_eq!(back, run);
        // Lists leave the points out, oldest first.
        let list = store.list_experiments().await.unwrap();
        assert_eq!(list.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["stab-10s", "stab-60s"]);
        assert!(list.iter().all(|e| e.points.is_empty() && e.ended_at == Some(41_000)));
        // Deleting the app (and its samples) leaves the runs.
        assert!(store.delete_app("web").await.unwrap());
        assert_eq!(store.list_experiments().await.unwrap().len(), 2);
        assert!(store.delete_experiment("stab-10s").await.unwrap());
        assert!(!store.delete_experiment("stab-10s").await.unwrap());
        assert_eq!(store.get_experiment("stab-10s").await.unwrap(), None);
        assert_eq!(store.list_experiments().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn settings_upsert() {
        let store = SqliteStore::in_memory().await.unwrap();
        assert_eq!(store.get_setting("x").await.unwrap(), None);
        store.put_setting("x", "1").await.unwrap();
        store.put_setting("x", "2").await.unwrap();
        assert_eq!(store.get_setting("x").await.unwrap().as_deref(), Some("2"));
    }

    #[tokio::test]
    async fn file_store_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("crane-store-test-{}", std::process::id()));
        let path = dir.join("state.db");
        {
            let store = SqliteStore::open(&path).await.unwrap();
            store.put_setting("engine_id", "abc").await.unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.get_setting("engine_id").await.unwrap().as_deref(), Some("abc"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
