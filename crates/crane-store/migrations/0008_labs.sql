-- Labs that are loaded. `record` is the engine's JSON record of the lab: its files as loaded (so its checks are
-- evaluated and it is reset the same way after a restart), exactly what loading it created (apps) and what it
-- replaced (the policies and alert rules in force before, restored by the reset), and the steps already done.
CREATE TABLE labs (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL,
    loaded_at INTEGER NOT NULL
);
