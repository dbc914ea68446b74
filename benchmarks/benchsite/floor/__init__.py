"""The floor: the same database work as a token request, with no OAuth around it."""
