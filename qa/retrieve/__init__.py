"""Retrieve: hybrid search (dense + lexical), title links, and the choice of evidence sentences."""
