"""The model stand-in for the app's own logic: dagcore's scripted OpenAI-compatible endpoint."""

from __future__ import annotations

from dagcore.testing import ScriptedModel

__all__ = ["ScriptedModel"]
