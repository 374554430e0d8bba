"""The control plane's state behind one storage interface: SQLite (one server) or PostgreSQL.

:mod:`keyark.control.database` is the interface (:class:`ControlDatabase`, a transaction
that runs ``?``-style SQL and returns rows as dicts) with its two engines;
:mod:`keyark.control.dialect` holds every difference between them (parameter style, column
types, ``RETURNING``, time text); :mod:`keyark.control.migrations` applies each store's
numbered schema versions once; :mod:`keyark.control.claims` lets several instances agree
on who runs a scheduled task (row claims with leases).
"""
