-- The genealogy closure: for every item, everything it went into ('up') and everything that
-- went into it ('down'), at any depth, written by the stream as links arrive. A genealogy
-- or recall query is then one key lookup instead of one per level.

CREATE TABLE IF NOT EXISTS genealogy_closure (
    node String,
    direction Enum8('down' = 1, 'up' = 2),
    other String,
    depth UInt16,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (node, direction, other)
SETTINGS index_granularity = 1024;
