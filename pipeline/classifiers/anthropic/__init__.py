"""Claude through the anthropic SDK: the LLM transport (a forced tool call) and the classifier."""

from pipeline.classifiers.anthropic.classifier import (
    AnthropicClassifier,
    build_anthropic_classifier,
)

__all__ = ["AnthropicClassifier", "build_anthropic_classifier"]
