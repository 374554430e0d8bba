"""Client and server state that is not in the repository: run history, scheduler cursors.

SQLite by default (:mod:`keyark.state.runs`); deleting it loses history, never backups.
"""
