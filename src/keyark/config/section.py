"""The base of every config file section: unknown keys refused, frozen, field docs kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A section of the config file: a key it does not define is an error (a typo is never
    silently ignored); the attribute docstrings become the JSON schema's descriptions."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


__all__ = ["Section"]
