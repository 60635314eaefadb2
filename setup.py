"""Build the native extension that keeps the chunker off the Python interpreter's hot path."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "resguardo.engine._chunker",
            sources=["src/resguardo/engine/_chunker.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=False,
        )
    ]
)
