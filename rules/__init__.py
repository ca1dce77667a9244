"""Collections rules: the dunning engine and the cash-application matcher, pure functions over the canonical model."""
