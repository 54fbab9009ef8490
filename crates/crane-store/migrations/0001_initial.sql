-- Apps as the user declared them. `spec_json` is the validated spec; `source_yaml` what the user submitted.
CREATE TABLE IF NOT EXISTS apps (
    name        TEXT PRIMARY KEY NOT NULL,
    spec_json   TEXT NOT NULL,
    source_yaml TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    public_port INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The event log: every decision with its reason and inputs.
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    app      TEXT,
    instance TEXT,
    kind     TEXT NOT NULL,
    reason   TEXT NOT NULL,
    details  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_app_id ON events (app, id);

-- Small key/value settings (engine id…).
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
