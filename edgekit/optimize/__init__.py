"""edgekit.optimize."""
