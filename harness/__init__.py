"""harness: benchmark harness and leaderboard generator for unsupervised domain adaptation of dense retrievers."""

__version__ = "0.1.0"
