"""Compliance evidence: PCI DSS v4.0 and GDPR controls checked against what keyark knows.

Controls are data (:mod:`keyark.compliance.pci`, :mod:`keyark.compliance.gdpr`): an id,
the standard, a title, a check over the gathered :class:`~keyark.compliance.evidence.Evidence`
(``PASS``, ``FAIL``, ``WARN`` or ``N/A`` with timestamped evidence items) and a one-line
remediation. :mod:`keyark.compliance.evidence` gathers the evidence through catalogue
operations only; :mod:`keyark.compliance.render` writes the report as Markdown, HTML or JSON.
"""
