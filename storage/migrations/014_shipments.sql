-- Items that left the plant in a shipment (linetrace dispatch, POST /v1/events/shipment, a
-- captured EPCIS shipping event with bizTransactionList or destinationList): one row per item
-- and shipment, with the shipment's business transactions (despatch advice, order, ...) and
-- destinations (the customer, its ship-to location) as parallel arrays of types and ids.
-- recall lists them; the EPCIS export puts them on the item's shipping ObjectEvent. A
-- shipment posted again has the same shipment_id and replaces its rows.

CREATE TABLE IF NOT EXISTS shipments (
    item String,
    shipment_id String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    transaction_types Array(String),
    transactions Array(String),
    destination_types Array(String),
    destinations Array(String),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (item, shipment_id);
