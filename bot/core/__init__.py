"""Pure logic with no I/O: periods, answer checking, scoring rules, statistics."""
