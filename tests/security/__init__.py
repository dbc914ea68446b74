"""Cross-cutting security suites: rules, fuzzing, leaks, oversize input, timing, races, headers."""
