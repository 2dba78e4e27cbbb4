"""The store: schema, engines, migrations and SQL helpers shared by SQLite and PostgreSQL."""
