-- Revision history of each app (for `rollout history` and `rollout undo`), and the paused flag of a rollout that
-- failed with `failureAction: pause`.
CREATE TABLE IF NOT EXISTS revisions (
    app         TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    spec_json   TEXT NOT NULL,
    source_yaml TEXT NOT NULL,
    cause       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app, revision)
);

ALTER TABLE apps ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
