"""Who may do what through the HTTP server: permissions, roles and principals.

:mod:`keyark.access.permissions` maps every catalogue operation to the one
:class:`~keyark.access.permissions.Permission` it needs and every role to the
permissions it holds; the server's routes and the dashboard's pages ask it, so a
role's reach is declared once.
"""
