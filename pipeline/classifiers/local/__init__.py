"""pipeline/classifiers/local."""
