"""Jobs: the I/O around metrics (read inputs from the store, compute, write results)."""
