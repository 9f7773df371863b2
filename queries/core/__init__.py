"""The core every statement goes through: the runner, the named-query registry, the result cache,
the timing recorder and connections."""
