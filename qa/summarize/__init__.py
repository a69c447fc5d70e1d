"""Summarize: extractive selection of stored sentences, and LLM map-reduce over them."""
