"""Checks of a config document that span fields, run on the raw data (so they are
reported together with every type error) and again by the model.

- :func:`reference_problems`: every repository a job, a ``copy_to`` or a maintenance
  task names is defined; ``copy_to`` does not name the job's own repository; a job has
  sources or commands.
- :func:`inline_secret_problems`: no secret is written in the file: no ``password:``
  or ``passphrase:`` key in a repository, no secret reference holding its ``value`` or
  given as a plain string (an S3 ``secret_access_key: abc``), no password in a URL.

Each problem is ``(path, message)``, ``path`` a tuple of keys and list indices as
pydantic writes error locations; :mod:`keyark.config.loading` adds the line.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel

from keyark.config.secrets import SecretRef

#: A location in the document: keys and list indices.
Location = tuple[str | int, ...]
#: One problem: where, and what is wrong (and what to do).
Problem = tuple[Location, str]

#: Keys a repository entry refuses as inline secrets, and what to use instead.
PASSWORD_KEYS = ("password", "passphrase", "pass", "secret")
REPOSITORY_REFERENCE_ADVICE = (
    "a secret cannot be written in the config file; "
    "use password_file, password_command or password_env"
)
REFERENCE_ADVICE = (
    "a secret cannot be written in the config file; give a reference instead: "
    "{file: PATH}, {env: VARIABLE} or {command: CMD}"
)
#: Key names that say a secret is (or is referred to) there.
SECRET_WORDS = ("password", "passphrase", "secret", "token", "pin", "key")


def suggestion(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` when one of ``choices`` is close to ``word``, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(known: Sequence[str]) -> str:
    return ", ".join(sorted(known)) if known else "none"


def reference_problems(data: Any) -> list[Problem]:
    """Names that point nowhere and jobs with nothing to back up."""
    if not isinstance(data, Mapping):
        return []
    repositories = data.get("repositories")
    known = list(repositories) if isinstance(repositories, Mapping) else []
    found: list[Problem] = []

    def name_problem(location: Location, name: Any) -> None:
        if isinstance(name, str) and name not in known:
            found.append(
                (
                    location,
                    f"repository {name!r} is not defined under repositories"
                    f"{suggestion(name, known)}; defined: {_names(known)}",
                )
            )

    jobs = data.get("jobs")
    for job_name, job in jobs.items() if isinstance(jobs, Mapping) else ():
        if not isinstance(job, Mapping):
            continue
        where: Location = ("jobs", str(job_name))
        own = job.get("repository")
        name_problem((*where, "repository"), own)
        copy_to = job.get("copy_to")
        for index, target in enumerate(copy_to if isinstance(copy_to, list) else []):
            if target == own and isinstance(own, str):
                message = f"names the job's own repository {own!r}; copy to another repository"
                found.append(((*where, "copy_to", index), message))
            else:
                name_problem((*where, "copy_to", index), target)
        if not job.get("sources") and not job.get("commands"):
            message = "a job needs sources or commands (what to back up)"
            found.append((where, message))
    maintenance = data.get("maintenance")
    for task in ("check", "prune", "rotate", "drill"):
        section = maintenance.get(task) if isinstance(maintenance, Mapping) else None
        names = section.get("repositories") if isinstance(section, Mapping) else None
        for index, name in enumerate(names if isinstance(names, list) else []):
            name_problem(("maintenance", task, "repositories", index), name)
    drill = maintenance.get("drill") if isinstance(maintenance, Mapping) else None
    drilled = drill.get("jobs") if isinstance(drill, Mapping) else None
    job_names = list(jobs) if isinstance(jobs, Mapping) else []
    for index, name in enumerate(drilled if isinstance(drilled, list) else []):
        if isinstance(name, str) and name not in job_names:
            message = f"job {name!r} is not defined under jobs{suggestion(name, job_names)}"
            found.append((("maintenance", "drill", "jobs", index), message))
    return found


def inline_secret_problems(data: Any) -> list[Problem]:
    """Every secret written in the document itself (with what to use instead)."""
    from keyark.config.document import KeyarkConfig

    return list(_secrets_in(KeyarkConfig, data, ()))


def _secrets_in(annotation: Any, data: Any, location: Location) -> Iterator[Problem]:
    """Walk ``data`` along the model type ``annotation``; yield the inline secrets."""
    if annotation is SecretRef:
        if isinstance(data, str | int | float | bytes) and not isinstance(data, bool):
            yield location, REFERENCE_ADVICE
        elif isinstance(data, Mapping) and data.get("value") is not None:
            yield (*location, "value"), REFERENCE_ADVICE
        return
    annotation = _bare(annotation)
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if origin in (Union, types.UnionType):
        for member in arguments:
            yield from _secrets_in(member, data, location)
    elif origin in (dict, Mapping) and isinstance(data, Mapping):
        for key, value in data.items():
            yield from _secrets_in(arguments[1], value, (*location, str(key)))
    elif origin is list and isinstance(data, list):
        for index, value in enumerate(data):
            yield from _secrets_in(arguments[0], value, (*location, index))
    elif _is_model(annotation) and isinstance(data, Mapping):
        yield from _secrets_of_model(annotation, data, location)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _secrets_of_model(
    model: type[BaseModel], data: Mapping[str, Any], location: Location
) -> Iterator[Problem]:
    fields = field_names(model)
    for key, value in data.items():
        field = fields.get(str(key))
        if field is not None:
            yield from _secrets_in(model.model_fields[field].annotation, value, (*location, key))
            continue
        lowered = str(key).lower()
        if "password_file" in fields and lowered in PASSWORD_KEYS:
            yield (*location, key), _password_advice(fields)
        elif f"{lowered}_file" in fields and any(word in lowered for word in SECRET_WORDS):
            yield (*location, key), f"a secret cannot be written in the config file; use {key}_file"
    url = data.get("url")
    if "url" in fields and isinstance(url, str) and _url_password(url):
        scheme = urlsplit(url).scheme or "the backend"
        if "password_command" in fields:  # a repository: its backend section takes references
            where = (
                f"give it by reference in the {scheme} section "
                "({file: PATH}, {env: VARIABLE} or {command: CMD})"
            )
        elif "url_file" in fields:
            where = "put the whole URL in a file and name it with url_file"
        else:
            where = "give the credential by reference in its own setting"
        yield (
            (*location, "url"),
            "a password cannot be written in the config file (here in the URL); "
            f"remove it from the URL and {where}",
        )


def _password_advice(fields: Mapping[str, str]) -> str:
    """What to use instead of an inline password: the reference keys this section has."""
    if "password_command" in fields:
        return REPOSITORY_REFERENCE_ADVICE
    return "a secret cannot be written in the config file; use password_file"


def _url_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def field_names(model: type[BaseModel]) -> dict[str, str]:
    """Each key the model accepts in a file (its alias, else its name) -> the field name."""
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def model_at(location: Location) -> type[BaseModel] | None:
    """The model class of the document's section at ``location`` (None: not a section)."""
    from keyark.config.document import KeyarkConfig

    annotation: Any = KeyarkConfig
    for step in location:
        annotation = _step(annotation, step)
        if annotation is None:
            return None
    return model_of(annotation)


def _bare(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X`` (other annotations as they are)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def model_of(annotation: Any) -> type[BaseModel] | None:
    annotation = _bare(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for member in get_args(annotation):
            found = model_of(member)
            if found is not None:
                return found
    return None


def _step(annotation: Any, step: str | int) -> Any:
    """The type one key or index below ``annotation`` (None when there is none)."""
    annotation = _bare(annotation)
    model = model_of(annotation)
    if model is not None:
        name = field_names(model).get(str(step))
        return None if name is None else model.model_fields[name].annotation
    for member in (
        get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else [annotation]
    ):
        member = _bare(member)
        origin = get_origin(member)
        if origin in (dict, Mapping):
            return get_args(member)[1]
        if origin is list:
            return get_args(member)[0]
    return None
