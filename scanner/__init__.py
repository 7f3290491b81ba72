"""synthreview: scanner stage (see DESIGN.md)."""
