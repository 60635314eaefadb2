"""The backup engine: repositories of deduplicated, compressed, encrypted snapshots.

The engine never prints; it reports through :data:`~resguardo.engine.events.Reporter` callbacks.
"""
