"""Classifiers: the offline model, LLM providers behind one transport port, the cascade."""
