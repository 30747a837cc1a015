"""Gemini through google-genai: the LLM transport, the classifier on it, the Batch API."""
