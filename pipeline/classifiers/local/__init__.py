"""The offline classifier: text features, training, calibrated model files, evaluation."""
