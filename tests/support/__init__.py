"""Fakes, stubs and servers the tests share."""
