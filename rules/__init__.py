"""Collections rules: the dunning engine and the cash-application matcher.

Pure functions over the canonical model.
"""
