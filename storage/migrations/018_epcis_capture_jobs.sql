-- EPCIS capture jobs as they finished (POST /epcis/capture): ``answer`` is the job's JSON as
-- GET /epcis/capture/{id} answers it, kept so the job is answered after the API process
-- restarts. The capture job publishes it on the epcis-events topic when it finishes, and the
-- sink stores it like the captured events; a job that was running when its process stopped
-- never finished and is not here.

CREATE TABLE IF NOT EXISTS epcis_capture_jobs (
    capture_id String,
    created_at DateTime64(6, 'UTC'),
    finished_at DateTime64(6, 'UTC'),
    answer String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY capture_id;
