"""The control plane's task claims, for the daemon: exactly-once scheduled work across
instances sharing a control database (see :mod:`keyark.control.claims`)."""

from __future__ import annotations

from keyark.control.claims import Claim as Claim
from keyark.control.claims import TaskClaims as TaskClaims
from keyark.control.leases import claim_held as claim_held
from keyark.control.leases import shared_claims as shared_claims
