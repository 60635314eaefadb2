"""Resguardo: a backup service for the IT departments of public institutions."""

__version__ = "0.1.0"
