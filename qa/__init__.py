"""qa: answers questions about news articles with cited source sentences, and summarizes them."""

from qa.errors import ConfigError, InputError, LLMError, NotFoundError, QAError, StoreError
from qa.service import QA
from qa.settings import Settings
from qa.types import Answer, Article, ArticleInfo, Citation, Claim, IngestResult, Sentence, Summary

__all__ = [
    "QA",
    "Answer",
    "Article",
    "ArticleInfo",
    "Citation",
    "Claim",
    "ConfigError",
    "IngestResult",
    "InputError",
    "LLMError",
    "NotFoundError",
    "QAError",
    "Sentence",
    "Settings",
    "StoreError",
    "Summary",
]
