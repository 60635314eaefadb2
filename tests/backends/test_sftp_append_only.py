"""An append-only SFTP account: OpenSSH's internal-sftp refusing removal, renames and attribute changes.

The test server forces ``internal-sftp -P remove,rmdir,rename,posix-rename,setstat,fsetstat,lsetstat,
symlink,copy-data`` on its second client key. Such an account can add objects (published with a hard
link, since renames are refused) but neither delete, move, nor replace any.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.backends.sftp import SftpStorage
from resguardo.core.errors import StorageError
from tests.backends.conftest import sftp_storage_on
from tests.fixtures.sshd import SshServer


@pytest.fixture
def append_only(sshd_server: SshServer, tmp_path: Path) -> Iterator[SftpStorage]:
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", key_file=sshd_server.append_only_key)
    try:
        yield storage
    finally:
        storage.close()


def test_new_objects_are_added_whole_and_listed_once(append_only: SftpStorage) -> None:
    append_only.save("data/ab/abcdef", b"pack")
    append_only.save("index/0123", b"index")
    assert append_only.load("data/ab/abcdef") == b"pack"
    assert {stored.name for stored in append_only.list("")} == {"data/ab/abcdef", "index/0123"}
    assert append_only.writer.publish == "hardlink"


def test_objects_are_created_read_only(append_only: SftpStorage) -> None:
    append_only.save("config", b"settings")
    mode = (Path(append_only.address.path) / "config").stat().st_mode
    assert stat.S_IMODE(mode) == 0o400


def test_an_existing_object_can_be_neither_replaced_nor_deleted(append_only: SftpStorage) -> None:
    append_only.save("data/ab/abcdef", b"pack")
    with pytest.raises(StorageError, match="refuses to replace files") as raised:
        append_only.save("data/ab/abcdef", b"forged")
    assert "append-only" in str(raised.value)
    with pytest.raises(StorageError, match="permission denied"):
        append_only.remove("data/ab/abcdef")
    assert append_only.load("data/ab/abcdef") == b"pack"
