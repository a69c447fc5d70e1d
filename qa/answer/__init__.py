"""Answer: extractive answers, the LLM chain and its provider, citation checks, conversations and
the prompt loader."""
