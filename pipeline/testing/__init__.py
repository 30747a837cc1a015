"""Test doubles shipped with the package: the stub Gemini API that tests and the bench share."""
