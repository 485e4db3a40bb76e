"""Alembic's environment: run by ``ivr.backoffice.database.migrate`` on the connection it
gives (in its transaction, holding its lock); never from the ``alembic`` command line with
an ini file, though ``alembic -x url=… upgrade head`` works too."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ivr.backoffice.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # the alembic command line: -x url=...
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).begin() as own:
        context.configure(connection=own, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
