"""The back office: the wallet's accounts, transactions, refunds, e-invoices and tickets in a
real database (SQLite by default, PostgreSQL by URL), behind the contract of
``ivr.engine.backoffice``.

- ``settings``: where the database is (``--db URL``, ``$IVR_DATABASE_URL``, else a SQLite file
  in the user data dir) and the PIN rules. Imports nothing heavy.
- ``office``: ``DatabaseBackOffice``, which performs the contract's operations. It imports
  SQLAlchemy when built, never at import, so a keyed call that uses no back office starts
  as fast as before.
- ``database`` (engines, errors, migrations), ``schema`` (the tables), ``repository`` (every
  query), ``pins`` (argon2id), ``demo`` (``ivr db init --demo``): SQLAlchemy and friends.
"""
