"""The cluster schema (schema.sql here), generated from storage/migrations by ``generate``."""
