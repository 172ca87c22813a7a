"""Analyses of recorded runs, shared by scenes, tests and the CLI (numpy and torch, no Manim).

Each module reads what a run recorded and answers one question about it, e.g.
``contributions``: which weights carry an MLP's decision, traced from the output neuron back to
the input plane.
"""
