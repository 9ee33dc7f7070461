"""Hive-partitioned Parquet export of the tables, for DuckDB and polars clients."""
