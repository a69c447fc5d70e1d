"""Ingest: readers turn files into clean articles; indexing splits, encodes and writes them;
transfer exports and imports a whole library."""
