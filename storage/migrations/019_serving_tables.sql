-- Key-value serving tables (storage/serving.py): what a trace looks up by key, one row per
-- key, as EmbeddedRocksDB (a key lookup ~1 ms on chDB; a MergeTree point lookup 4-10 ms).
-- The MergeTree tables stay the record; the sink merges each flush's rows into these after
-- inserting them there, when LINETRACE_SERVING_TABLES is on. They are created empty:
-- `linetrace serving refill` fills them from the record (storage/serving_refill.sql) before
-- they are turned on.

CREATE TABLE IF NOT EXISTS kv_passes (
    item String,
    pass_id Array(String),
    first_seen Array(DateTime64(6, 'UTC')),
    last_seen Array(DateTime64(6, 'UTC')),
    site Array(String),
    line Array(String),
    stage Array(String),
    station Array(String),
    reader_id Array(String),
    reads Array(UInt32),
    outcome Array(String),
    detail Array(String),
    product Array(String),
    job Array(String),
    direction Array(String),
    operator Array(String),
    revision Array(UInt64)
) ENGINE = EmbeddedRocksDB
PRIMARY KEY item;

CREATE TABLE IF NOT EXISTS kv_item_state (
    item String,
    site String,
    line String,
    product String,
    job String,
    stage String,
    station String,
    status String,
    parent String,
    last_seen DateTime64(6, 'UTC'),
    revision UInt64
) ENGINE = EmbeddedRocksDB
PRIMARY KEY item;

CREATE TABLE IF NOT EXISTS kv_genealogy (
    node String,
    direction String,
    other Array(String),
    depth Array(UInt16),
    present Array(UInt8),
    version Array(UInt64),
    site Array(String),
    line Array(String),
    station Array(String),
    time Array(DateTime64(6, 'UTC'))
) ENGINE = EmbeddedRocksDB
PRIMARY KEY (node, direction);
