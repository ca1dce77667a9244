"""Local servers speaking each ERP's wire protocol, validating what they receive, seeded with realistic data."""
