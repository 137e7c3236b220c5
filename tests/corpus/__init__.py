"""Corpora of bad and hostile submissions of the toy lab, each with the outcome it must get."""
