"""Publication dates: ISO dates and datetimes checked and normalized at ingest, and as day
numbers, the form range filters compare; and the one lock every call into dateparser holds."""

from __future__ import annotations

import threading
from datetime import date, datetime

# dateparser keeps shared state in its parsers and search objects and is not thread-safe
# (scrapinghub/dateparser#441, #813); a server answers in several threads, so every call into it
# (qa.retrieve.time, qa.stories.compare) holds this lock (a call takes about a millisecond).
DATEPARSER_LOCK = threading.Lock()


def normalize_date(value: str) -> str:
    """An ISO 8601 date or datetime in its canonical form; ValueError for anything else.

    A date stays a date (`2023-09-11`); a datetime becomes `YYYY-MM-DDTHH:MM:SS[.ffffff]` with
    its offset when it has one (`Z` is written `+00:00`). The standard library's ISO parsers
    decide what is valid: "2023-02-30" (no such day), "yesterday" or "11/09/2023" are not.
    """
    text = value.strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError("not an ISO 8601 date or datetime") from None


def day_number(published_at: str | None) -> int | None:
    """Days since 1970-01-01 of an ISO date or datetime, for range filters in Chroma."""
    if not published_at:
        return None
    text = published_at.strip()
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            d = date.fromisoformat(text[:10])
        except ValueError:
            return None
    return (d - date(1970, 1, 1)).days
