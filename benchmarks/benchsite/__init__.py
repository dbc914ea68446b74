"""A minimal host site for the benchmark scripts: the provider mounted at ``/o/`` and
protected API views, configured only through the README's public surface."""
