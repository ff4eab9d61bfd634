"""Bounds of the public API's parameters, shared by the views and their OpenAPI document."""

PAGE_DEFAULT = 100
PAGE_MAX = 1000
# Columns are 32-bit on PostgreSQL: a larger number could never match and would fail the query.
SEQ_MAX = 2**31 - 1
