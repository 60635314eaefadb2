"""Where repository files live: one small Storage protocol and its implementations."""

from resguardo.backends.base import Storage, StoredObject
from resguardo.backends.local import LocalStorage
from resguardo.backends.memory import MemoryStorage
from resguardo.backends.open import open_storage

__all__ = ["LocalStorage", "MemoryStorage", "Storage", "StoredObject", "open_storage"]
