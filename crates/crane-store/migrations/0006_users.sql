-- Users and roles (issue 8). Each app has an owner: the user who created it. Apps from before this migration were
-- created through the engine's own token, the built-in `admin` user.
ALTER TABLE apps ADD COLUMN owner TEXT NOT NULL DEFAULT 'admin';

-- Users of the engine; `role` is `viewer`, `operator` or `admin`. The built-in `admin` is added by the engine.
CREATE TABLE IF NOT EXISTS users (
    name       TEXT PRIMARY KEY NOT NULL,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Bearer tokens of users. Only the SHA-256 of a token is stored (hex), never the token; `id` is the public part of
-- the token, by which it is found. `role` is what the token gives, never more than its user's role.
CREATE TABLE IF NOT EXISTS tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    user       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    label      TEXT
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user);

-- The audit log: every request that changed (or tried to change) something, with who, which role, which door,
-- what, and the outcome (`ok` or an error code). Kept apart from the event log, bounded like it
-- (crane_store::MAX_AUDIT).
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    user    TEXT NOT NULL,
    role    TEXT NOT NULL,
    door    TEXT NOT NULL,
    action  TEXT NOT NULL,
    app     TEXT,
    target  TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_user_id ON audit (user, id);
CREATE INDEX IF NOT EXISTS audit_app_id ON audit (app, id);
