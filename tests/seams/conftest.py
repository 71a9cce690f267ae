"""The seam examples reuse the engine tests' workspace fixtures."""

from tests.engine.conftest import env_canaries, ws

__all__ = ["env_canaries", "ws"]
