"""JSON Schemas of edgekit's outputs (kept equal to the models by a test)."""
