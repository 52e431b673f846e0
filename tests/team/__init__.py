"""Team use: the state in a real PostgreSQL server (scripts/postgres.py), locking, PR previews against it."""
