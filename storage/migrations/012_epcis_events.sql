-- EPCIS events captured from trace partners (POST /epcis/capture), each stored verbatim as
-- received (``document``, the event's JSON) under its eventID (the CBV 2.0 event hash when
-- the sender gave none), so capturing a document again replaces its rows. The other columns
-- are what queries filter on; site and line are those of the station at the event's read
-- point ('' when it names none of the plant's), the scope a token sees.

CREATE TABLE IF NOT EXISTS epcis_events (
    event_id String,
    event_type LowCardinality(String),
    event_time DateTime64(6, 'UTC'),
    site LowCardinality(String),
    line LowCardinality(String),
    biz_step LowCardinality(String),
    disposition LowCardinality(String),
    read_point String,
    biz_location String,
    epcs Array(String),
    parent_id String,
    capture_id String,
    document String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6),
    INDEX epcs_bloom epcs TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY event_id;
