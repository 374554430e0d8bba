"""Backend sections are validated by models built on first use (issue 11, section 3),
with the validation, errors and JSON Schema of plain model fields."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from keyark.config.backends import (
    AzureOptions,
    FTPOptions,
    GCSOptions,
    LocalOptions,
    S3Options,
    SFTPOptions,
)
from keyark.config.models import BackendSections, RepositoryConfig, RepositorySpec
from keyark.config.secrets import SecretRef


class EagerSections(BaseModel):
    """BackendSections as it was declared before: plain model fields, built at once."""

    local: LocalOptions | None = None
    s3: S3Options | None = None
    azure: AzureOptions | None = None
    gcs: GCSOptions | None = None
    sftp: SFTPOptions | None = None
    ftp: FTPOptions | None = None


class EagerSpec(EagerSections):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str


@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_the_json_schema_shows_every_section_as_plain_model_fields_do(
    mode: Literal["validation", "serialization"],
) -> None:
    lazy = BackendSections.model_json_schema(mode=mode)
    eager = EagerSections.model_json_schema(mode=mode)
    for schema in (lazy, eager):  # the class's own name and docstring
        del schema["title"]
        schema.pop("description", None)
    assert lazy == eager
    # The sections are there in full: every option of every backend, secrets as SecretRef.
    assert set(lazy["properties"]) == {"local", "s3", "azure", "gcs", "sftp", "ftp"}
    assert "secret_access_key" in lazy["$defs"]["S3Options"]["properties"]
    assert lazy["$defs"]["S3Options"]["additionalProperties"] is False
    assert "SecretRef" in lazy["$defs"]


def test_a_model_including_the_sections_has_the_eager_schema() -> None:
    """RepositoryConfig (RepositorySpec inside) as ``keyark config schema`` prints it."""
    schema = json.dumps(RepositoryConfig.model_json_schema())
    spec = RepositorySpec.model_json_schema()
    eager = EagerSpec.model_json_schema()
    assert spec["$defs"] == eager["$defs"]
    for name in ("local", "s3", "azure", "gcs", "sftp", "ftp"):
        assert spec["properties"][name] == eager["properties"][name]
    for model in ("LocalOptions", "S3Options", "AzureOptions", "GCSOptions", "SFTPOptions"):
        assert f'"$ref": "#/$defs/{model}"' in schema


def test_a_section_validates_as_its_model() -> None:
    spec = RepositorySpec.model_validate(
        {
            "url": "s3://bucket/prefix",
            "s3": {
                "region": "eu-west-1",
                "access_key_id": "AKIA",
                "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"},
            },
        }
    )
    assert isinstance(spec.s3, S3Options)
    assert spec.s3.secret_access_key == SecretRef(env="AWS_SECRET_ACCESS_KEY")
    assert spec.section() is spec.s3
    assert spec.given_sections() == {"s3": spec.s3}
    given = S3Options(region="x")
    assert RepositorySpec(url="s3://b/p", s3=given).s3 is given  # an instance passes as it is
    assert spec.model_dump(exclude_none=True)["s3"]["region"] == "eu-west-1"
    assert json.loads(spec.model_dump_json())["s3"]["access_key_id"] == "AKIA"
    from_json = RepositorySpec.model_validate_json(
        '{"url": "s3://b/p", "s3": {"region": "x", "addressing_style": "path"}}'
    )
    assert from_json.s3 == S3Options(region="x", addressing_style="path")


@pytest.mark.parametrize(
    ("section", "location"),
    [
        ({"s3": {"regoin": "x"}}, ("s3", "regoin")),  # a typo inside a section
        ({"s3": {"object_lock_days": -1}}, ("s3", "object_lock_days")),
        ({"s3": {"secret_access_key": {"env": "A", "file": "/f"}}}, ("s3", "secret_access_key")),
        ({"bogus": {}}, ("bogus",)),  # an unknown section
    ],
)
def test_errors_name_the_key_inside_the_section(
    section: dict[str, object], location: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        RepositorySpec.model_validate({"url": "s3://bucket/prefix", **section})
    assert [error["loc"] for error in caught.value.errors()] == [location]


def test_a_validator_of_the_section_model_still_runs() -> None:
    with pytest.raises(ValidationError, match="access_key_id and secret_access_key go together"):
        RepositorySpec.model_validate({"url": "s3://b/p", "s3": {"access_key_id": "AKIA"}})


def test_a_section_of_another_backend_is_refused() -> None:
    with pytest.raises(ValidationError, match="s3 options given for a local repository"):
        RepositorySpec.model_validate({"url": "/srv/repo", "s3": {"region": "x"}})


def test_only_the_section_given_is_built() -> None:
    """In a fresh interpreter: declaring the sections builds none of the six models;
    validating an SFTP section builds SFTPOptions only (positive control)."""
    probe = (
        "import json\n"
        "from keyark.config.backends import OPTION_MODELS\n"
        "from keyark.config.models import RepositorySpec\n"
        "def built():\n"
        "    return sorted(n for n, m in OPTION_MODELS.items() if m.__pydantic_complete__)\n"
        "before = built()\n"
        "RepositorySpec.model_validate({'url': 'sftp://u@h/p', 'sftp': {'identity': '/k'}})\n"
        "print(json.dumps([before, built()]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    before, after = json.loads(result.stdout)
    assert before == []
    assert after == ["sftp"]
