"""The repository's versioned configuration, stored encrypted in the ``config`` object."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from resguardo.core.errors import ConfigurationError, IntegrityError
from resguardo.engine.chunker import ChunkerParameters

REPOSITORY_VERSION = 2
"""The newest format version this program reads."""
BASE_VERSION = 1
"""The version written for repositories that use no feature of a later one."""
OBJECT_LOCK_VERSION = 2
"""The version that added ``object_lock``: older programs must refuse to write unlocked objects there."""
OBJECT_LOCK_MODES = ("compliance", "governance")
MINIMUM_PACK_SIZE = 1024 * 1024
MAXIMUM_PACK_SIZE = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RepositoryConfig:
    """Settings fixed when the repository is created.

    Raises:
        ConfigurationError: a value is out of range.
    """

    id: str
    created: str
    chunker: ChunkerParameters = field(default_factory=ChunkerParameters)
    compression_level: int = 3
    pack_size: int = 16 * 1024 * 1024
    version: int = BASE_VERSION
    object_lock_days: int = 0
    """Days of Object Lock retention given to every object but the lock files (0: none)."""
    object_lock_mode: str = "compliance"

    def __post_init__(self) -> None:
        if self.object_lock_days < 0 or self.object_lock_mode not in OBJECT_LOCK_MODES:
            raise ConfigurationError(
                f"invalid Object Lock setting: {self.object_lock_mode} for {self.object_lock_days} days",
                "give a positive number of days and the mode compliance or governance",
            )
        if self.object_lock_days and self.version < OBJECT_LOCK_VERSION:
            object.__setattr__(self, "version", OBJECT_LOCK_VERSION)
        if not MINIMUM_PACK_SIZE <= self.pack_size <= MAXIMUM_PACK_SIZE:
            raise ConfigurationError(
                f"pack size {self.pack_size} is out of range",
                f"choose between {MINIMUM_PACK_SIZE} and {MAXIMUM_PACK_SIZE} bytes",
            )
        if not 0 <= self.compression_level <= 19:
            raise ConfigurationError(
                f"compression level {self.compression_level} is out of range", "use 0 (off) to 19"
            )

    def to_bytes(self) -> bytes:
        """Return the JSON document stored (encrypted) as ``config``."""
        document: dict[str, Any] = {
            "version": self.version,
            "id": self.id,
            "created": self.created,
            "chunker": self.chunker.to_dict(),
            "compression": {"algorithm": "zstd", "level": self.compression_level},
            "pack_size": self.pack_size,
        }
        if self.object_lock_days:
            document["object_lock"] = {"mode": self.object_lock_mode, "days": self.object_lock_days}
        return json.dumps(document, indent=2).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RepositoryConfig:
        """Parse a decrypted ``config`` document.

        Raises:
            IntegrityError: the document is malformed or of a newer version than this program.
        """
        try:
            document = json.loads(data)
            version = int(document["version"])
        except (ValueError, KeyError, TypeError) as error:
            raise IntegrityError(f"repository config is malformed: {error}") from None
        if version > REPOSITORY_VERSION:
            raise IntegrityError(
                f"repository format version {version} is newer than this program supports",
                "upgrade resguardo",
            )
        try:
            object_lock = document.get("object_lock") or {"mode": "compliance", "days": 0}
            return cls(
                id=str(document["id"]),
                created=str(document["created"]),
                chunker=ChunkerParameters.from_dict(document["chunker"]),
                compression_level=int(document["compression"]["level"]),
                pack_size=int(document["pack_size"]),
                version=version,
                object_lock_days=int(object_lock["days"]),
                object_lock_mode=str(object_lock["mode"]),
            )
        except (KeyError, TypeError, ValueError, ConfigurationError) as error:
            raise IntegrityError(f"repository config is malformed: {error}") from None
