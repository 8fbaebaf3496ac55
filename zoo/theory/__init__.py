"""Small runnable experiments for theory papers the zoo reproduces (``python -m zoo.theory.pretraining -o docs/theory``)."""
