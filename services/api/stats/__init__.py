"""Stats: the query engine behind POST /v1/query and the reports built on it."""
