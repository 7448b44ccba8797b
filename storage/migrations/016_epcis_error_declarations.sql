-- EPCIS error declarations captured from trace partners: an event carrying errorDeclaration
-- declares the event captured before under the same eventID in error. Both are kept: the
-- event in epcis_events as received, the declaration here under that eventID (a later
-- declaration of the same event replaces it); queries answer the event with its
-- errorDeclaration. ``declaration`` is the errorDeclaration's JSON, ``document`` the
-- declaring event as received; site and line are its read point's station's, as in
-- epcis_events.

CREATE TABLE IF NOT EXISTS epcis_error_declarations (
    event_id String,
    declaration_time DateTime64(6, 'UTC'),
    reason LowCardinality(String),
    corrective_event_ids Array(String),
    site LowCardinality(String),
    line LowCardinality(String),
    capture_id String,
    declaration String,
    document String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY event_id;
