-- The OSV advisory database of the image scanner (a file of its own, `advisories.db`, beside the state database).
-- One row per (ecosystem, package, release, advisory): the advisory reduced to that package's `affected` entries.
CREATE TABLE advisory_rows (
    ecosystem TEXT NOT NULL,
    package   TEXT NOT NULL,
    release   TEXT NOT NULL DEFAULT '',
    id        TEXT NOT NULL,
    modified  TEXT,
    document  TEXT NOT NULL,
    PRIMARY KEY (ecosystem, package, release, id)
) WITHOUT ROWID;

CREATE INDEX advisory_rows_id ON advisory_rows (id);

-- imported_at (ms), generation (bumped by every import), sources (JSON list of what was imported).
CREATE TABLE advisory_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
