"""The engine tests' workspace fixtures (an empty workspace on the embedded sandbox org)."""

from tests.engine.conftest import env_canaries, ws

__all__ = ["env_canaries", "ws"]
