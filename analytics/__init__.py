"""Figures about receivables, no decisions: aging, DSO, payment-date prediction and the cash forecast."""
