"""The library: ingestion into the LanceDB store, search, and the records it holds."""
