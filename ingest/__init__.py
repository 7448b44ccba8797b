"""linetrace ingest: the canonical event contract, settings, Kafka publishing and the CLI."""
