"""linetrace load tests (Locust users for portals and the query API)."""
