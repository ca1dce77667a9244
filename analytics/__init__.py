"""Figures about receivables, no decisions: aging, DSO (count-back and simple), Best Possible DSO,
Average Days Delinquent, the Collection Effectiveness Index and their monthly trends, payment-date
prediction and the cash forecast.

Pure functions over canonical records and monthly totals; the state store keeps the totals the
workspace's overview needs (``store/insights.py``) so that a page never loads every invoice.
"""
