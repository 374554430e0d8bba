"""Two S3 repositories with different credentials in one process (issue 10, section 2).

The credentials come from each repository's spec and reach the backend as
parameters; the process environment holds a third, unrelated key pair
(``AWS_ACCESS_KEY_ID=testing``) that must not be used. moto keeps buckets per
account and maps the temporary keys of an assumed role to that role's account, so
each bucket is visible only with the credentials that created it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from keyark.api import BackupManager
from keyark.config import (
    CredentialSpec,
    RepositoryConfig,
    RepositorySpec,
    S3Options,
    SecretRef,
    backend_options,
)

from .servers import unique

ACCOUNTS = ("111111111111", "222222222222")


@dataclass(frozen=True)
class Account:
    access_key_id: str
    secret_access_key: str
    session_token: str
    bucket: str

    def buckets(self, endpoint: str) -> list[str]:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
        )
        return [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]


@pytest.fixture
def accounts(moto_endpoint: str) -> list[Account]:
    """Temporary credentials of a role in each of two AWS accounts."""
    sts = boto3.client("sts", endpoint_url=moto_endpoint)
    found = []
    for number in ACCOUNTS:
        role = sts.assume_role(
            RoleArn=f"arn:aws:iam::{number}:role/keyark", RoleSessionName="keyark-test"
        )["Credentials"]
        found.append(
            Account(
                role["AccessKeyId"],
                role["SecretAccessKey"],
                role["SessionToken"],
                unique(f"s3-{number[:3]}"),
            )
        )
    return found


def _spec(endpoint: str, account: Account) -> RepositorySpec:
    return RepositorySpec(
        url=f"s3://{account.bucket}/repo",
        s3=S3Options(
            endpoint=endpoint,
            access_key_id=account.access_key_id,
            secret_access_key=SecretRef.of(account.secret_access_key),
            session_token=SecretRef.of(account.session_token),
        ),
    )


def test_two_repositories_with_different_credentials(
    moto_endpoint: str, accounts: list[Account], tmp_path: Path
) -> None:
    managers = [
        BackupManager(
            config=RepositoryConfig(
                repository=_spec(moto_endpoint, account),
                credentials=CredentialSpec(passphrase=[SecretRef.of(f"pw-{account.bucket}")]),
            )
        )
        for account in accounts
    ]
    for manager in managers:
        manager.init()
    for index, manager in enumerate(managers):
        source = tmp_path / f"src{index}"
        source.mkdir()
        (source / "secret.key").write_text(f"key material {index}\n")
        assert manager.create_backup([source], tags=[f"t{index}"]).complete
    # Both open at once, each with its own credentials.
    with managers[0].open() as first, managers[1].open() as second:
        assert first.repo_id != second.repo_id
    for index, manager in enumerate(managers):
        (snapshot,) = manager.list_backups()
        assert snapshot.tags == [f"t{index}"]
        target = tmp_path / f"restore{index}"
        manager.restore_backup(snapshot, target)
        assert next(target.rglob("secret.key")).read_text() == f"key material {index}\n"
    # Each bucket was created in its own account, none with the environment's key.
    first_account, second_account = accounts
    assert first_account.buckets(moto_endpoint) == [first_account.bucket]
    assert second_account.buckets(moto_endpoint) == [second_account.bucket]
    default = boto3.client("s3", endpoint_url=moto_endpoint).list_buckets()["Buckets"]
    assert not {first_account.bucket, second_account.bucket} & {b["Name"] for b in default}


def test_resolved_credentials_stay_out_of_repr(moto_endpoint: str, accounts: list[Account]) -> None:
    account = accounts[0]
    spec = _spec(moto_endpoint, account)
    options = backend_options(spec, environ={})
    assert options.settings["s3_access_key_id"] == account.access_key_id
    for shown in (repr(spec), repr(options), str(options)):
        assert account.secret_access_key not in shown
        assert account.session_token not in shown
