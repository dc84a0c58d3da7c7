"""SQLAlchemy 2.0 async persistence: SQLite (embedded default) and PostgreSQL, with Alembic
migrations shipped in `migrations/`, and an in-memory twin in `memory.py` for tests."""
