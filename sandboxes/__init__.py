"""Local servers speaking each ERP's wire protocol, validating what they receive.

Seeded with realistic data; the demo and the tests drive them.
"""
