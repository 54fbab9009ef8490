-- Optimistic concurrency: every write of an app row bumps its generation, and a write names the generation it read.
-- A writer that read an older generation (the loop deciding from a snapshot while a door scaled the app) loses instead
-- of silently overwriting the newer row. Existing rows start at generation 1.
ALTER TABLE apps ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
