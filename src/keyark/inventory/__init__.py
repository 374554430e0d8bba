"""The key and certificate inventory: what key material a snapshot holds.

:mod:`keyark.inventory.model` is the entry point (``Finding``, ``Inventory``,
``is_candidate``, ``recognise``, ``link``); one module per family of key material
parses it with ``cryptography`` and the standard library. Findings record names and
facts, never the secret itself.
"""
