"""A backend whose optional dependency is missing says which extra to install."""

from __future__ import annotations

import sys

import pytest

from keyark.backends.registry import open_backend
from keyark.errors import MissingExtraError


@pytest.mark.parametrize(
    ("url", "module", "library", "extra"),
    [
        ("sftp://u@127.0.0.1/srv/repo", "keyark.backends.sftp", "paramiko", "sftp"),
        ("s3://bucket/prefix", "keyark.backends.s3", "boto3", "s3"),
        ("azure://container/prefix", "keyark.backends.azure", "azure.storage.blob", "azure"),
        ("gs://bucket/prefix", "keyark.backends.gcs", "google.cloud.storage", "gcs"),
    ],
)
def test_missing_extra_names_the_extra(
    url: str, module: str, library: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setitem(sys.modules, library, None)  # makes "import library" fail
    parent, _, child = library.rpartition(".")
    if parent in sys.modules:  # "from parent import child" would find the attribute
        monkeypatch.delattr(sys.modules[parent], child, raising=False)
    with pytest.raises(MissingExtraError) as caught:
        open_backend(url)
    message = str(caught.value)
    assert f"keyark[{extra}]" in message
    assert library.split(".", maxsplit=1)[0] in message
