//! The image scanner's OSV advisory database: a SQLite file of its own (`<data dir>/advisories.db`), not tables of
//! the state database.
//!
//! Kept apart on purpose: it is a cache of public data rebuilt from OSV exports (all of Debian is hundreds of
//! thousands of rows), so it must not grow the state database, its backups or its single connection's write
//! transactions; deleting the file loses nothing that cannot be imported again. Rows are keyed by (ecosystem,
//! package, release, advisory), which is also how a scan looks them up. Every import bumps `generation`, which the
//! engine's scan cache is keyed by, so a new database refreshes every verdict.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crane_core::ports::StoreError;
use crane_scan::osv::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row as _;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-advisories");

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("advisory database: {e}"))
}

/// The advisory database.
#[derive(Clone)]
pub struct AdvisoryDb {
    pool: SqlitePool,
}

/// What the database holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdvisoryStatus {
    /// Distinct advisories.
    pub advisories: u64,
    /// Rows (advisory × package × release).
    pub rows: u64,
    /// Advisories per ecosystem.
    pub ecosystems: Vec<(String, u64)>,
    /// When the last import finished (ms since the epoch).
    pub imported_at: Option<i64>,
    /// The newest `modified` of any advisory.
    pub newest_modified: Option<String>,
    /// Bumped by every import.
    pub generation: u64,
    /// What the imports read (paths, URLs), newest last, at most 20.
    pub sources: Vec<String>,
}

impl AdvisoryDb {
    /// Opens (or creates, 0600) the database at `path`.
    pub async fn open(path: &Path) -> Result<AdvisoryDb, StoreError> {
        crate::make_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(options).await
    }

    /// An in-memory database, for tests.
    pub async fn in_memory() -> Result<AdvisoryDb, StoreError> {
        Self::connect(SqliteConnectOptions::from_str("sqlite::memory:").map_err(err)?).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<AdvisoryDb, StoreError> {
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(err)?;
        MIGRATOR.run(&pool).await.map_err(err)?;
        Ok(AdvisoryDb { pool })
    }

    /// Writes a batch of rows in one transaction (a row already there is replaced).
    pub async fn put_rows(&self, rows: &[Row]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        for row in rows {
            sqlx::query(
                "INSERT OR REPLACE INTO advisory_rows (ecosystem, package, release, id, modified, document) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(row.ecosystem.as_str())
            .bind(&row.package)
            .bind(row.release.as_deref().unwrap_or(""))
            .bind(&row.id)
            .bind(&row.modified)
            .bind(&row.document)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Records a finished import of `source` at `now_ms`: bumps the generation.
    pub async fn finish_import(&self, source: &str, now_ms: i64) -> Result<AdvisoryStatus, StoreError> {
        let status = self.status().await?;
        let mut sources = status.sources;
        sources.push(source.to_string());
        let start = sources.len().saturating_sub(20);
        let sources = serde_json::to_string(&sources[start..]).map_err(err)?;
        let mut tx = self.pool.begin().await.map_err(err)?;
        for (key, value) in [
            ("imported_at", now_ms.to_string()),
            ("generation", (status.generation + 1).to_string()),
            ("sources", sources),
        ] {
            sqlx::query("INSERT OR REPLACE INTO advisory_meta (key, value) VALUES (?, ?)")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        self.status().await
    }

    /// The stored documents of (ecosystem, package key), every release.
    pub async fn lookup(&self, ecosystem: &str, package: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT document FROM advisory_rows WHERE ecosystem = ? AND package = ? LIMIT 10000")
            .bind(ecosystem)
            .bind(package)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(|r| r.try_get::<String, _>("document").map_err(err)).collect()
    }

    /// The generation alone (cheap: read before every scan).
    pub async fn generation(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT value FROM advisory_meta WHERE key = 'generation'")
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.and_then(|r| r.try_get::<String, _>("value").ok()).and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// What the database holds.
    pub async fn status(&self) -> Result<AdvisoryStatus, StoreError> {
        let meta = sqlx::query("SELECT key, value FROM advisory_meta").fetch_all(&self.pool).await.map_err(err)?;
        let get = |key: &str| {
            meta.iter()
                .find(|r| r.try_get::<String, _>("key").ok().as_deref() == Some(key))
                .and_then(|r| r.try_get::<String, _>("value").ok())
        };
        let counts = sqlx::query(
            "SELECT COUNT(*) AS n_rows, COUNT(DISTINCT id) AS n_ids, MAX(modified) AS newest FROM advisory_rows",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        let ecosystems = sqlx::query(
            "SELECT ecosystem, COUNT(DISTINCT id) AS n FROM advisory_rows GROUP BY ecosystem ORDER BY ecosystem",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(AdvisoryStatus {
            advisories: counts.try_get::<i64, _>("n_ids").unwrap_or(0) as u64,
            rows: counts.try_get::<i64, _>("n_rows").unwrap_or(0) as u64,
            ecosystems: ecosystems
                .iter()
                .map(|r| {
                    (
                        r.try_get::<String, _>("ecosystem").unwrap_or_default(),
                        r.try_get::<i64, _>("n").unwrap_or(0) as u64,
                    )
                })
                .collect(),
            imported_at: get("imported_at").and_then(|v| v.parse().ok()),
            newest_modified: counts.try_get::<Option<String>, _>("newest").ok().flatten(),
            generation: get("generation").and_then(|v| v.parse().ok()).unwrap_or(0),
            sources: get("sources").and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_lookup_status() {
        let db = AdvisoryDb::in_memory().await.unwrap();
        assert_eq!(db.status().await.unwrap(), AdvisoryStatus::default());
        let doc = br#"{"id":"DSA-3032-1","modified":"2014-09-24T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:7","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"4.2+dfsg-0.1+deb7u1"}]}]}]}"#;
        let advisories = crane_scan::osv::parse_document("x.json", doc).unwrap();
        let rows = crane_scan::osv::rows(&advisories[0]);
        db.put_rows(&rows).await.unwrap();
        db.put_rows(&rows).await.unwrap();
        let status = db.finish_import("x.json", 1000).await.unwrap();
        assert_eq!((status.advisories, status.rows, status.generation), (1, 1, 1));
        assert_eq!(status.ecosystems, [("Debian".to_string(), 1)]);
        assert_eq!(status.newest_modified.as_deref(), Some("2014-09-24T00:00:00Z"));
        assert_eq!(status.sources, ["x.json"]);
        assert_eq!(db.lookup("Debian", "bash").await.unwrap().len(), 1);
        assert!(db.lookup("Debian", "dash").await.unwrap().is_empty());
        assert_eq!(db.generation().await.unwrap(), 1);
    }
}
