"""Graded exercises: check functions, exercise generation and the grading command."""
