"""Analyst SQL: read-only DuckDB statements under DuckDB's own access controls and limits."""
