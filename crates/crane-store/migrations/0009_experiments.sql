-- Experiment runs: a recording of an app under load, kept after the app and its samples are gone. `record` is the
-- engine's JSON record of the run without its points (settings at the start, load profile, who, why it ended);
-- `points` its series as a JSON array of rows (`[at, replicas, ready, rps, rps_per_replica, latency_p95_ms,
-- cpu_percent, errors_per_s]`), apart so lists read only the small columns. `ended_at` is NULL while recording.
-- The engine keeps at most crane_core::experiment::MAX_RUNS rows.
CREATE TABLE experiments (
    name       TEXT PRIMARY KEY NOT NULL,
    app        TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    record     TEXT NOT NULL,
    points     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX experiments_started_at ON experiments (started_at);
