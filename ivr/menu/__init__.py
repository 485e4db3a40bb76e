"""The menu layer: see docs/design.md for what this layer may import."""
