"""Web: the Gradio app, one module per tab, its HTTP API handlers and pure render functions."""
