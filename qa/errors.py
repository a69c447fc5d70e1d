"""The few errors qa raises; the CLI and the web app turn them into messages, nothing else does."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose; its message is shown to the user as it is."""

    retryable: bool = False
    help: str = ""

    def __init__(self, message: str, *, help: str = "") -> None:
        super().__init__(message)
        if help:
            self.help = help

    def user_message(self) -> str:
        return f"{self}\n{self.help}" if self.help else str(self)


class InputError(QAError):
    """Bad input from the user (a file, a question, an option); nothing stored was changed."""


class NotFoundError(QAError):
    """A named article (or other stored thing) does not exist."""


class StoreError(QAError):
    """The store could not be read or written (Chroma down, locked, or corrupt)."""

    retryable = True


class LLMError(QAError):
    """The language model could not be reached or answered with an error the user can act on."""


class ConfigError(QAError):
    """A setting is missing or inconsistent."""


class EmbedderError(QAError):
    """The embedding model could not encode (its process stopped, or the model failed)."""
