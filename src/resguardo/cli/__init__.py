"""The command-line face: parses arguments, asks for passphrases, calls the engine and renders its results.

The entry point is :func:`resguardo.cli.main.run`; the commands live in the ``commands_*`` modules,
output (text, JSON lines, progress bars) in :mod:`resguardo.cli.output` and :mod:`resguardo.cli.progress`.
"""
