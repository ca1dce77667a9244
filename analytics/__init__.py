"""Figures about receivables, no decisions: aging, DSO (count-back and simple), Best Possible DSO,
Average Days Delinquent, the Collection Effectiveness Index and their monthly trends.

Pure functions over canonical records and monthly totals; the state store computes the totals
(``store/insights.py``) so that a page never loads every invoice.
"""
