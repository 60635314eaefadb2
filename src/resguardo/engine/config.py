"""The repository's versioned configuration, stored encrypted in the ``config`` object."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from resguardo.core.errors import ConfigurationError, IntegrityError
from resguardo.engine.chunker import ChunkerParameters

REPOSITORY_VERSION = 1
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
    version: int = REPOSITORY_VERSION

    def __post_init__(self) -> None:
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
            return cls(
                id=str(document["id"]),
                created=str(document["created"]),
                chunker=ChunkerParameters.from_dict(document["chunker"]),
                compression_level=int(document["compression"]["level"]),
                pack_size=int(document["pack_size"]),
                version=version,
            )
        except (KeyError, TypeError, ValueError, ConfigurationError) as error:
            raise IntegrityError(f"repository config is malformed: {error}") from None
