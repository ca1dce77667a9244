"""The connector conformance kit: named behavioural tests every connector must pass."""
