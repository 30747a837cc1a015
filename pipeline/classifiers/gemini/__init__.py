"""pipeline/classifiers/gemini."""
