"""The HTTP server face: a REST API under ``/api/v1`` and the web dashboard.

The server has no logic of its own: every route runs a catalogue operation
(:mod:`keyark.ops`) for an authenticated principal whose role allows the operation's
permission (:mod:`keyark.access.permissions`).
"""
