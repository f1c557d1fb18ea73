"""Function triggers: each module decodes its input, calls ``shared/`` and encodes the result."""
