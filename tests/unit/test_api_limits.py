"""The APIs' concurrency bound (qa.api.server.Limiter): admission, 429 with Retry-After, and
slots that are always given back (a stream's slot is closed twice; a waiter can be cancelled)."""

from __future__ import annotations

import asyncio

import pytest

from qa.api.errors import ApiError
from qa.api.server import Limiter, _guarded

pytestmark = pytest.mark.unit


def test_admits_concurrency_plus_queue_then_refuses_with_retry_after() -> None:
    async def run() -> None:
        limiter = Limiter(concurrency=1, queue=1)
        working = limiter.admit()
        waiting = limiter.admit()
        with pytest.raises(ApiError) as refused:
            limiter.admit()
        assert refused.value.status == 429 and refused.value.code == "overloaded"
        assert int(refused.value.headers["Retry-After"]) >= 1
        assert "QA_API_CONCURRENCY=1" in str(refused.value)
        async with working:
            entered = asyncio.create_task(waiting.__aenter__())
            await asyncio.sleep(0)
            assert not entered.done()  # the one worker is busy: the second one waits
        await entered
        waiting.close()
        waiting.close()  # idempotent: a stream's generator and its response both close it
        assert limiter.admitted == 0
        limiter.admit().close()  # admitted again once the others are done

    asyncio.run(run())


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def run() -> None:
        limiter = Limiter(concurrency=1, queue=1)
        working = limiter.admit()
        await working.__aenter__()
        waiter = asyncio.create_task(limiter.admit().__aenter__())
        await asyncio.sleep(0)
        assert limiter.admitted == 2
        waiter.cancel()  # the client went away while it waited
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limiter.admitted == 1
        working.close()
        assert limiter.admitted == 0 and not limiter.workers.locked()

    asyncio.run(run())


def test_the_token_guards_the_api_prefixes_only() -> None:
    assert _guarded("/api/v1/ask") and _guarded("/v1/models") and _guarded("/v1")
    assert not _guarded("/") and not _guarded("/config") and not _guarded("/v10/x")
    assert not _guarded("/api/v1x") and not _guarded("/gradio_api/info")
