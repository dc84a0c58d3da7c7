"""The Litestar REST API (and, later, the dashboard) on port 8600."""
