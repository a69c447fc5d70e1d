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

    # --- fetching URLs and feeds (qa.ingest.fetch, qa.ingest.feeds) ----------------------------
    allow_private_urls: bool = Field(
        default=False,
        description="Fetch URLs whose host resolves to a loopback, private, link-local or other "
        "non-public address (QA_ALLOW_PRIVATE_URLS). Off by default: a URL typed into the web app "
        "must not reach the server's own network. Cloud metadata addresses stay refused.",
    )
    allow_private_hosts: str = Field(
        default="",
        description="Comma-separated host names (as written in URLs) allowed to resolve to private "
        "addresses while allow_private_urls is off, e.g. an intranet news site.",
    )
    fetch_timeout: float = Field(
        default=10.0, gt=0,
        description="Seconds to wait for a connection or for the next bytes of a response; the "
        "whole response must arrive within three times this (QA_FETCH_TIMEOUT).",
    )
    fetch_max_bytes: int = Field(
        default=5_000_000, ge=1,
        description="Largest page or feed fetched (5 MB); larger responses are refused at the cap "
        "without reading the rest.",
    )
    fetch_max_redirects: int = Field(
        default=5, ge=0, le=30, description="Most redirects followed for one URL."
    )
    fetch_retries: int = Field(
        default=2, ge=0, le=10,
        description="Retries of a request answered 429 or 5xx, waiting fetch_backoff seconds, "
        "then twice that..., or what the server's Retry-After asks.",
    )
    fetch_backoff: float = Field(
        default=1.0, ge=0, description="Seconds before the first retry of a fetch; doubles after."
    )
    fetch_max_wait: float = Field(
        default=30.0, ge=0,
        description="Longest wait qa accepts from a server's Retry-After or robots.txt "
        "Crawl-delay; a server that asks for more is reported instead of waited for.",
    )
    fetch_host_delay: float = Field(
        default=1.0, ge=0,
        description="Seconds between two requests to the same host (a robots.txt Crawl-delay "
        "that asks for more wins, up to fetch_max_wait).",
    )
    fetch_robots: bool = Field(
        default=True, description="Honour robots.txt (QA_FETCH_ROBOTS); turn off only for your own sites."
    )
    fetch_contact: str = Field(
        default="",
        description="A URL or e-mail address put in the User-Agent (qa/<version> (+contact)) so "
        "that site owners can reach whoever runs this qa.",
    )
    feed_refresh_minutes: float = Field(
        default=0.0, ge=0,
        description="`qa serve` refreshes every feed this often (minutes); 0 = never (the default).",
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
        default=0.3,
        description="A sentence beyond the score margin is still cited when the evidence model "
        "(qa/retrieve/evidence_model.json, fitted on tune questions) gives it at least this "
        "probability of being evidence (chosen by cross-validation on tune); above 1 turns the "
        "model off.",
    )
    evidence_neighbour: bool = Field(
        default=True,
        description="When the most probable cited sentence lacks the kind of thing the question "
        "asks for (a number for 'how many', a name for 'which'...), the next sentence of its "
        "article is cited too (chosen by cross-validation on tune; eval/CALIBRATION.md).",
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

    # --- HTTP APIs (REST /api/v1, OpenAI-compatible /v1; served by `qa serve`) ------------------
    api_token: str | None = Field(
        default=None,
        description="With a token set, every API route refuses a request without "
        "'Authorization: Bearer <token>' (401); the web app keeps its own login (QA_API_TOKEN).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the APIs from a browser, as a JSON list "
        '(QA_CORS_ORIGINS=\'["https://app.example"]\'); empty allows none.',
    )
    api_concurrency: int = Field(
        default=8, ge=1, le=64,
        description="API requests answered at once (QA_API_CONCURRENCY); like the web app's "
        "queue: 8 hides an LLM's latency, more only contend for the CPU offline.",
    )
    api_queue: int = Field(
        default=64, ge=0, le=10_000,
        description="API requests allowed to wait for a free slot; beyond that the API answers "
        "429 with Retry-After instead of piling up (QA_API_QUEUE).",
    )

    # --- MCP server ----------------------------------------------------------------------------
    mcp_allow_ingest: bool = Field(
        default=False,
        description="Offer the MCP tools that add articles (ingest_text, and ingest_urls when "
        "available); off, the MCP server is read-only (QA_MCP_ALLOW_INGEST).",
    )

    # --- time in questions (qa.retrieve.time) -------------------------------------------------
    recency_margin: float = Field(
        default=0.15, ge=0, le=1,
        description="For 'latest'-style questions, candidates within this relevance of the best "
        "count as relevant, and the newest of them is cited first (QA_RECENCY_MARGIN); chosen "
        "on tune rows of eval/make_latest_set.py.",
    )
    recent_bonus: float = Field(
        default=0.1, ge=0, le=1,
        description="Relevance added, for ranking only, to sentences of articles published in "
        "the `recent_days` up to the day a question is asked as of (today unless given): a "
        "question about the news is most often about the latest news (QA_RECENT_BONUS; 0 turns "
        "it off; chosen on RealTimeQA tune rows, eval/CALIBRATION.md).",
    )
    recent_days: int = Field(
        default=7, ge=0, le=366,
        description="How many days before the as-of day count as recent (QA_RECENT_DAYS).",
    )
    recent_search: int = Field(
        default=10, ge=0, le=200,
        description="This many sentences of the recent articles (see recent_bonus), the nearest "
        "the question, join the candidates, so that the week's report of a much-covered topic "
        "is among them (QA_RECENT_SEARCH; 0 turns it off; eval/CALIBRATION.md).",
    )
    time_strip: bool = Field(
        default=True,
        description="Search with the question's time phrases ('this week', 'latest') removed, "
        "so they do not pollute matching (QA_TIME_STRIP).",
    )
    timeline_merge: float = Field(
        default=0.5, gt=0, le=1,
        description="Word overlap (Jaccard of content words) above which two outlets' sentences "
        "are one event of a timeline (QA_TIMELINE_MERGE).",
    )

    # --- stories across outlets (qa.stories) -------------------------------------------------
    story_num_perm: int = Field(
        default=128, ge=16, le=1024,
        description="MinHash permutations per article signature for story grouping "
        "(QA_STORY_NUM_PERM); changing it recomputes the signatures from the stored texts.",
    )
    story_shingle: int = Field(
        default=3, ge=1, le=10,
        description="Words per shingle of an article's signature (QA_STORY_SHINGLE).",
    )
    story_threshold: float = Field(
        default=0.2, gt=0, lt=1,
        description="Jaccard threshold of the MinHash LSH that proposes candidate copies "
        "(QA_STORY_THRESHOLD); chosen on eval/make_story_set.py tune rows.",
    )
    story_min_containment: float = Field(
        default=0.6, gt=0, le=1,
        description="Share of the smaller article's shingles found in a candidate for the two "
        "to be one story (QA_STORY_MIN_CONTAINMENT); chosen on tune rows.",
    )
    compare_align: float = Field(
        default=0.6, ge=0, le=1,
        description="Cosine similarity above which two sources' sentences state the same fact "
        "in `compare` (QA_COMPARE_ALIGN); chosen on eval/compare.py tune pairs.",
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
