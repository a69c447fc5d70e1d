"""The few errors qa raises; the CLI and the web app turn them into messages, nothing else does."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.types import IngestResult


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


class DiskFullError(StoreError):
    """The disk that holds the store has no space left: writes fail, reads go on (see
    `qa.store.connection.disk_full`)."""


class PartialIngest(StoreError):
    """An ingest stopped by a store failure (a dead Chroma server, a full disk) after it had
    stored some articles: `results` are the per-article results up to the failure (what was
    stored, unchanged or refused); its message is the failure's.

    A failing store is not one bad record, so the ingest stops rather than failing article
    after article; but what it stored before must still be reported.
    """

    def __init__(self, cause: QAError, results: list[IngestResult]) -> None:
        super().__init__(str(cause), help=cause.help)
        self.cause = cause
        self.results = results

    def user_message(self) -> str:
        stored = sum(r.status in ("added", "replaced") for r in self.results)
        return (
            f"{super().user_message()}\nThe ingest stopped there: {stored} article(s) were "
            "stored before the failure; running the same ingest again adds the rest (what is "
            "stored says unchanged)."
        )


class LLMError(QAError):
    """The language model could not be reached or answered with an error the user can act on."""


class ConfigError(QAError):
    """A setting is missing or inconsistent."""


class EmbedderError(QAError):
    """The embedding model could not encode (its process stopped, or the model failed)."""
