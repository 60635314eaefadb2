"""What a restore did: :class:`RestoreResult`, returned by :func:`resguardo.engine.restorer.restore`.

It lives in a module of its own so that the coordinator that fills it in and the package that
returns it both import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RestoreResult:
    """What a restore did.

    Attributes:
        files_restored: non-directory entries restored whole (files, symlinks, hard links, FIFOs,
            device nodes); damaged files are not counted here but listed in ``damaged``.
        directories: directories created or reused in the target.
        bytes_written: content bytes of the files restored whole (holes of sparse files included).
        errors: (path, message) of entries that could not be restored; the rest were.
        damaged: paths whose content or tree could not be read from the repository: files are
            restored with holes where the damaged blobs were, directories are skipped.
    """

    files_restored: int = 0
    directories: int = 0
    bytes_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every selected entry was restored intact."""
        return not self.errors and not self.damaged
