"""linetrace storage: ClickHouse schema, the idempotent sink, and the named queries."""
