"""The HTTP serving layer: a FastAPI app that publishes what the pipelines wrote.

`serving.app.create_app` builds the app; each domain has one router module under
`serving.routers`. Serving may import `ops` and `resources`, never `assets` or `orchestration`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed version of the project, or a marker when it runs from an uninstalled tree."""
    try:
        return version("sextant")
    except PackageNotFoundError:
        return "0.0.0+unknown"


__version__ = package_version()
