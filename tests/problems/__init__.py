"""User problems the tests name as entrypoints (the worker imports them like any user module)."""
