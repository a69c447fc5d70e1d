"""The service faces other software calls: REST, OpenAI-compatible chat, MCP and a LangChain retriever."""
