-- Policies edited by an admin. The shipped versions are embedded in Crane and never stored: a missing row means the
-- shipped policy runs, and "reset" deletes the row. `data` is the policy's data document as JSON text.
CREATE TABLE policies (
    name TEXT PRIMARY KEY NOT NULL,
    rego TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
