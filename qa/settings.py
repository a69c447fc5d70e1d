"""Every setting of qa, with its default and what it does, read from QA_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Encoder = Literal["onnx-int8", "onnx", "torch"]  # backends of the local model (qa.embed.local)


def default_home() -> Path:
    return Path.home() / ".qa"


class Settings(BaseSettings):
    """Settings for the service, the CLI and the web app. Environment variables use the QA_ prefix."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="forbid", validate_default=True)

    # --- store -----------------------------------------------------------------------------
    home: Path = Field(
        default_factory=default_home,
        description="Data folder: the embedded Chroma store and rebuildable caches (QA_HOME).",
    )
    collection: str = Field(
        default="qa", description="Name prefix of the Chroma collections holding this library."
    )
    model_cache: Path | None = Field(
        default=None,
        description="Folder of the local model's ONNX exports, made once from the bundled weights "
        "(QA_MODEL_CACHE); default: <home>/cache.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000); unset means embedded.",
    )
    chroma_token: str | None = Field(
        default=None, description="Auth token sent to the Chroma server, if it wants one."
    )

    lock_timeout: float = Field(
        default=30.0, ge=0,
        description="Seconds a writer waits while another qa process writes to the same QA_HOME, "
        "then fails with a clear error (QA_LOCK_TIMEOUT).",
    )
    chroma_retries: int = Field(
        default=3, ge=0, le=10,
        description="Retries, with backoff 0.5 s, 1 s, 2 s..., of a Chroma server call that failed "
        "because the server was unreachable or restarting (QA_CHROMA_RETRIES).",
    )

    # --- ingest ----------------------------------------------------------------------------
    max_file_bytes: int = Field(
        default=20_000_000,
        description="Files larger than this are refused with a message (20 MB by default).",
    )
    chunk_max_tokens: int = Field(
        default=128,
        ge=16,
        le=254,
        description=(
            "Most word pieces in one chunk, counted with the embedder's own tokenizer; the model's "
            "window is 256 including [CLS]/[SEP], so this must stay <= 254."
        ),
    )

    # --- embeddings --------------------------------------------------------------------------
    embedder: Literal["local", "openai"] = Field(
        default="local",
        description="'local': the bundled all-MiniLM-L6-v2; 'openai': an OpenAI embeddings model.",
    )
    openai_embedding_model: str = Field(
        default="text-embedding-3-small", description="Embedding model used when embedder=openai."
    )
    encoder: Encoder = Field(
        default="onnx-int8",
        description="Backend of the local model (QA_ENCODER): 'onnx-int8' ONNX Runtime with int8 "
        "weights, the fastest; 'onnx' the same graph in fp32; 'torch' sentence-transformers fp32, the "
        "reference. Their speeds and recall are measured in bench/ (bench/README.md).",
    )
    embed_batch_size: int = Field(default=64, description="Chunks encoded per batch at ingest.")

    # --- retrieval and answers ---------------------------------------------------------------
    k: int = Field(default=5, ge=1, le=20, description="Most sentences cited in one answer.")
    candidates: int = Field(
        default=40, description="Sentences fetched from each retriever before fusion."
    )
    rrf_k: int = Field(default=60, description="The constant of reciprocal rank fusion.")
    abstain_threshold: float = Field(
        default=0.27,
        description=(
            "Questions whose answerability (P(answerable) by qa/retrieve/answerability.py's model) "
            "is below this abstain. Chosen on tune questions only: the highest threshold keeping "
            "false abstention at or under 8% on every tune set (eval/train_answerability.py, "
            "eval/CALIBRATION.md)."
        ),
    )
    reason_penalty: float = Field(
        default=0.15,
        description="For why-questions, relevance taken from sentences that give no cause or reason "
        "(a sentence that only restates the question is not its answer); 0 turns it off.",
    )
    lexical_weight: float = Field(
        default=0.2, description="Weight of the BM25 score (0..1, best = 1) in sentence relevance."
    )
    lead_bonus: float = Field(
        default=0.1, description="Relevance added to an article's first sentence (news leads)."
    )
    link_bonus: float = Field(
        default=0.05,
        description="An article whose title one of the best sentences names (the second hop of "
        "a multi-hop question) has its best sentence raised to this far below the naming one; "
        "0 turns these hops off.",
    )
    question_link_bonus: float = Field(
        default=0.1,
        description="An article whose title the question names has its best sentence raised "
        "to this far below the best candidate; 0 turns it off.",
    )
    bridge_bonus: float = Field(
        default=0.1,
        description="Relevance added to a sentence that names the title of another of the best "
        "articles (the step between the two articles of a multi-hop answer).",
    )
    link_sources: int = Field(
        default=2, description="How many of the best sentences are searched for article titles."
    )
    max_links: int = Field(default=4, description="At most this many linked articles per question.")
    evidence_threshold: float = Field(
        default=0.4,
        description="A sentence beyond the score margin is still cited when the evidence model "
        "(qa/retrieve/evidence_model.json, fitted on tune questions) gives it at least this "
        "probability of being evidence (chosen by cross-validation on tune); above 1 turns the "
        "model off.",
    )
    evidence_model: Path | None = Field(
        default=None,
        description="Another evidence model file (eval/train_evidence_model.py writes one); "
        "default: the one shipped in the package.",
    )
    answerability_model: Path | None = Field(
        default=None,
        description="Another answerability model file (eval/train_answerability.py writes one); "
        "default: the one shipped in the package.",
    )
    score_margin: float = Field(
        default=0.15,
        description="Sentences more than this below the best one's relevance are not cited, "
        "unless the evidence model vouches for them (evidence_threshold).",
    )
    redundancy_threshold: float = Field(
        default=0.90,
        description="Sentences this similar (cosine) to one already chosen are not cited again "
        "(contextual vectors of neighbours in one chunk reach 0.8 without saying the same thing).",
    )

    # --- answering mode and the LLM ------------------------------------------------------------
    mode: Literal["extractive", "llm", "auto"] = Field(
        default="auto",
        description="'auto' uses the LLM when an API key or base URL is configured, else extractive.",
    )
    openai_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "QA_OPENAI_API_KEY"),
        description="API key for the OpenAI-compatible endpoint (read like the openai client).",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "QA_OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio).",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="Chat model name (QA_LLM_MODEL).")
    llm_temperature: float = Field(default=0.0, description="Sampling temperature of the model.")
    llm_timeout: float = Field(default=60.0, description="Seconds before a model call times out.")
    llm_max_retries: int = Field(
        default=2, description="Retries on 429 and 5xx, with the client's own backoff."
    )
    context_tokens: int = Field(
        default=3000,
        description="Token budget (tiktoken) for the numbered evidence put in a prompt.",
    )
    model_window: int = Field(
        default=16000, description="The chat model's context window in tokens; never exceeded."
    )

    # --- web app -------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the web app binds.")
    port: int = Field(default=7860, description="Port of the web app.")
    auth: str | None = Field(
        default=None, description="'user:password' turns on the web app's login (QA_AUTH)."
    )

    @property
    def model_cache_dir(self) -> Path:
        return self.model_cache or self.home / "cache"

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    def resolved_mode(self) -> Literal["extractive", "llm"]:
        if self.mode == "auto":
            return "llm" if self.llm_configured else "extractive"
        return self.mode
