"""Multi-task learning: problems, models, architectures and weighting strategies."""
