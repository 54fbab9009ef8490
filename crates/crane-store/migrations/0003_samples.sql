-- Metric time series. Raw samples are kept for hours; older ones are rolled up into one-minute buckets kept for days,
-- so the database stays bounded (see crane_store::RAW_RETENTION_MS / ROLLUP_RETENTION_MS).
CREATE TABLE IF NOT EXISTS samples (
    series TEXT NOT NULL,
    at     INTEGER NOT NULL,
    value  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_series_at ON samples (series, at);

CREATE TABLE IF NOT EXISTS samples_1m (
    series TEXT NOT NULL,
    at     INTEGER NOT NULL,  -- start of the minute
    value  REAL NOT NULL,     -- average over the minute
    max    REAL NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (series, at)
);
