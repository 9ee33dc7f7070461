"""The store: the only code that opens DuckDB."""
