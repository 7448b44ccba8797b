-- Holds placed on items or lots (and their releases), and whether an item is held now:
-- a hold on an item reaches everything it went into.

CREATE TABLE IF NOT EXISTS holds (
    hold_id String,
    item String,
    site LowCardinality(String),
    line LowCardinality(String),
    hold_type LowCardinality(String),
    owner String,
    reason String,
    event LowCardinality(String),
    time DateTime64(6, 'UTC'),
    via String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (site, line, hold_id, item, event);

ALTER TABLE item_state ADD COLUMN IF NOT EXISTS on_hold UInt8 AFTER passes;
