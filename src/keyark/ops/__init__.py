"""The operation catalogue: the one core every face (CLI, Python API, daemon, HTTP) calls.

Each operation takes an :class:`OperationContext` and typed options and returns a
typed result with ``to_dict()``; :data:`CATALOGUE` lists them with their options
and result types and whether they change the repository or read secret content.
Faces import this package, :mod:`keyark.config`, :mod:`keyark.events` and
:mod:`keyark.errors`, and nothing else of keyark (``tests/unit/test_face_imports.py``).
"""

# Each module's ``__all__`` is its part of the faces' surface (operations, their option
# and result types, and the parsers and types a face needs to build options).
import keyark.ops.agents as _agents
import keyark.ops.backend as _backend
import keyark.ops.backup as _backup
import keyark.ops.browse as _browse
import keyark.ops.catalog as _catalog
import keyark.ops.check as _check
import keyark.ops.copy as _copy
import keyark.ops.debug as _debug
import keyark.ops.dump as _dump
import keyark.ops.forget as _forget
import keyark.ops.keys as _keys
import keyark.ops.prune as _prune
import keyark.ops.repair as _repair
import keyark.ops.repository as _repository
import keyark.ops.restore as _restore
import keyark.ops.rewrite as _rewrite
import keyark.ops.rotation as _rotation
import keyark.ops.snapshots as _snapshots
import keyark.ops.stats as _stats
import keyark.ops.tag as _tag
import keyark.ops.unlock as _unlock
from keyark.context import Actor, OperationContext
from keyark.ops.agents import *  # noqa: F403
from keyark.ops.backend import *  # noqa: F403
from keyark.ops.backup import *  # noqa: F403
from keyark.ops.browse import *  # noqa: F403
from keyark.ops.catalog import *  # noqa: F403
from keyark.ops.catalogue import CATALOGUE, Operation, Result, operation
from keyark.ops.check import *  # noqa: F403
from keyark.ops.copy import *  # noqa: F403
from keyark.ops.debug import *  # noqa: F403
from keyark.ops.dump import *  # noqa: F403
from keyark.ops.forget import *  # noqa: F403
from keyark.ops.keys import *  # noqa: F403
from keyark.ops.prune import *  # noqa: F403
from keyark.ops.repair import *  # noqa: F403
from keyark.ops.repository import *  # noqa: F403
from keyark.ops.restore import *  # noqa: F403
from keyark.ops.rewrite import *  # noqa: F403
from keyark.ops.rotation import *  # noqa: F403
from keyark.ops.snapshots import *  # noqa: F403
from keyark.ops.stats import *  # noqa: F403
from keyark.ops.tag import *  # noqa: F403
from keyark.ops.unlock import *  # noqa: F403
from keyark.storage import init_repository, open_repository  # repository level (tests)
from keyark.units import parse_seconds

__all__ = [
    "CATALOGUE",
    "Actor",
    "Operation",
    "OperationContext",
    "Result",
    "init_repository",
    "open_repository",
    "operation",
    "parse_seconds",
]
__all__ += _agents.__all__
__all__ += _backend.__all__
__all__ += _backup.__all__
__all__ += _browse.__all__
__all__ += _catalog.__all__
__all__ += _check.__all__
__all__ += _copy.__all__
__all__ += _debug.__all__
__all__ += _dump.__all__
__all__ += _forget.__all__
__all__ += _keys.__all__
__all__ += _prune.__all__
__all__ += _repair.__all__
__all__ += _repository.__all__
__all__ += _restore.__all__
__all__ += _rewrite.__all__
__all__ += _rotation.__all__
__all__ += _snapshots.__all__
__all__ += _stats.__all__
__all__ += _tag.__all__
__all__ += _unlock.__all__
