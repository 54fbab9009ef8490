-- Metric samples carry their app, instance and metric as columns instead of one `series` string
-- (`<app>/<metric>` or `<app>/<instance>/<metric>`), so readers filter on columns and never split names.
--
-- Old rows are MIGRATED, not dropped: the series name is split here, once, at its '/'s (app, instance and metric
-- names contain none). Rows whose name has no '/' never existed and are dropped. `instance` is '' for app-level series
-- rather than NULL, so the rollup's primary key treats it as a value (SQLite keys hold any number of NULLs);
-- crane-store reads '' back as "no instance".

CREATE TABLE samples_v4 (
    app      TEXT NOT NULL,
    instance TEXT NOT NULL DEFAULT '',  -- '' for the app's own series
    metric   TEXT NOT NULL,
    at       INTEGER NOT NULL,
    value    REAL NOT NULL
);

CREATE TABLE samples_1m_v4 (
    app      TEXT NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    metric   TEXT NOT NULL,
    at       INTEGER NOT NULL,  -- start of the minute
    value    REAL NOT NULL,     -- average over the minute
    max      REAL NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (app, metric, instance, at)
);

-- `head` is the app, `tail` what follows its '/'; a tail with another '/' is `<instance>/<metric>`.
INSERT INTO samples_v4 (app, instance, metric, at, value)
SELECT head,
       CASE WHEN instr(tail, '/') > 0 THEN substr(tail, 1, instr(tail, '/') - 1) ELSE '' END,
       CASE WHEN instr(tail, '/') > 0 THEN substr(tail, instr(tail, '/') + 1) ELSE tail END,
       at, value
FROM (SELECT substr(series, 1, instr(series, '/') - 1) AS head, substr(series, instr(series, '/') + 1) AS tail,
             at, value
      FROM samples WHERE instr(series, '/') > 0);

INSERT OR REPLACE INTO samples_1m_v4 (app, instance, metric, at, value, max, count)
SELECT head,
       CASE WHEN instr(tail, '/') > 0 THEN substr(tail, 1, instr(tail, '/') - 1) ELSE '' END,
       CASE WHEN instr(tail, '/') > 0 THEN substr(tail, instr(tail, '/') + 1) ELSE tail END,
       at, value, max, count
FROM (SELECT substr(series, 1, instr(series, '/') - 1) AS head, substr(series, instr(series, '/') + 1) AS tail,
             at, value, max, count
      FROM samples_1m WHERE instr(series, '/') > 0);

DROP TABLE samples;
DROP TABLE samples_1m;
ALTER TABLE samples_v4 RENAME TO samples;
ALTER TABLE samples_1m_v4 RENAME TO samples_1m;

-- Charts and exports read one app's metric over a time range.
CREATE INDEX samples_app_metric_at ON samples (app, metric, at);
