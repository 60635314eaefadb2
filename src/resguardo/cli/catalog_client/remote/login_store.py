"""Where ``resguardo login`` keeps the server's address and the API token it made: ``login.json`` in the
user's configuration folder (``$XDG_CONFIG_HOME/resguardo``, else ``~/.config/resguardo``), readable by
the user only (mode 0600, its folder 0700). ``resguardo logout`` removes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from resguardo.core.errors import UsageError

LOGIN_FILE = "login.json"


@dataclass(frozen=True)
class StoredLogin:
    """A login kept on disk: the server, the API token, its ID on the server, and who logged in."""

    server: str
    token: str
    token_id: int | None
    username: str

    def __repr__(self) -> str:
        return f"StoredLogin(server={self.server!r}, username={self.username!r})"


def config_directory() -> Path:
    """Return the user's configuration folder of Resguardo."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "resguardo"


def login_path() -> Path:
    """Return the file a login is kept in."""
    return config_directory() / LOGIN_FILE


def load_login() -> StoredLogin | None:
    """Return the stored login, or None when there is none.

    Raises:
        UsageError: the file cannot be read or is not one this program wrote.
    """
    path = login_path()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return StoredLogin(
            server=str(document["server"]),
            token=str(document["token"]),
            token_id=document.get("token_id"),
            username=str(document.get("username", "")),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"cannot read the stored login {path}: {type(error).__name__}",
            "run 'resguardo logout', then 'resguardo login --server URL' again",
        ) from None


def save_login(login: StoredLogin) -> Path:
    """Write ``login`` to its file, readable by the user only (0600); return the file's path.

    Raises:
        UsageError: the folder or the file cannot be written.
    """
    path = login_path()
    temporary = path.with_name(f".{LOGIN_FILE}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(asdict(login), stream)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UsageError(
            f"cannot store the login in {path}: {error.strerror or error}",
            "check that your configuration folder (XDG_CONFIG_HOME, else ~/.config) can be written",
        ) from None
    return path


def forget_login() -> bool:
    """Remove the stored login; return whether there was one.

    Raises:
        UsageError: the file exists but cannot be removed.
    """
    path = login_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as error:
        raise UsageError(f"cannot remove {path}: {error.strerror or error}", "remove it by hand") from None
    return True
