"""Stable entry point of the HTTP app: ``uvicorn --factory shared.http_api:create_app``.

The app lives in :mod:`shared.operator.http_api`; deployments, the README and outside tests name this
module, so it stays where it was when the code moved into packages.
"""

from shared.operator.http_api import create_app

__all__ = ["create_app"]
