-- Portal read rates per route stage, counted by each stream partition on the items seen
-- downstream of the stage; queries sum the partitions. Skipped-stage violations list their
-- missing stages so the chance of a missed read can be computed against those rates.

CREATE TABLE IF NOT EXISTS portal_read_rates (
    site LowCardinality(String),
    line LowCardinality(String),
    stage LowCardinality(String),
    partition UInt32,
    observed UInt64,
    read UInt64,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (site, line, stage, partition);

ALTER TABLE violations ADD COLUMN IF NOT EXISTS missing Array(String) AFTER detail;
