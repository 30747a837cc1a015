"""The SQL store: schema, engine, migrations and the ticket repository."""
