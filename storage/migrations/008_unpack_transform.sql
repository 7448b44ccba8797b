-- Unpacking and transformations. Links say whether they packed or assembled ('add'),
-- unpacked ('delete'), or consumed an input into an output ('transformation').
-- The genealogy closure becomes versioned: a member that leaves an item (unpacked) gets
-- a row with present = 0 and a higher version, and queries read each pair's latest row.

ALTER TABLE links ADD COLUMN IF NOT EXISTS action Enum8('add' = 1, 'delete' = 2) DEFAULT 'add';

ALTER TABLE links ADD COLUMN IF NOT EXISTS kind LowCardinality(String) DEFAULT 'aggregation';

CREATE TABLE IF NOT EXISTS genealogy (
    node String,
    direction Enum8('down' = 1, 'up' = 2),
    other String,
    depth UInt16,
    present UInt8,
    version UInt64,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(version)
ORDER BY (node, direction, other)
SETTINGS index_granularity = 1024;

INSERT INTO genealogy (node, direction, other, depth, present, version, site, line, station, time)
SELECT node, direction, other, depth, 1, 0, site, line, station, time FROM genealogy_closure;

DROP TABLE IF EXISTS genealogy_closure;
