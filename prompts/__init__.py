"""The prompts of qa as text files; installed as the package `qa.prompts` (see pyproject.toml)."""
