"""Publication dates as day numbers, the form range filters compare."""

from __future__ import annotations

from datetime import date, datetime


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
