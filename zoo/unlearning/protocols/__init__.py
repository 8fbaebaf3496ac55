"""Evaluation protocols of unlearning beyond "forget a set, compare with retrain" (corrective unlearning, ...)."""
