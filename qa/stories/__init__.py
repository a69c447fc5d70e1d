"""Stories across outlets: copies of one story grouped at ingest (grouping), cited once with
the other copies listed (copies), and what several sources agree and differ on (compare)."""
