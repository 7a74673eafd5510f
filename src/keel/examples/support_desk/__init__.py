"""The reference app, a customer-support desk: `keel chat --app keel.examples.support_desk:app`.

See `keel.examples.support_desk.app` for what it does and how.
"""

from keel.examples.support_desk.app import app, build_app

__all__ = ["app", "build_app"]
