"""Embed: the one embedder interface, the bundled local model (and its ONNX export), encoder
worker processes, and an OpenAI-compatible embedder."""
