"""synthreview: reports stage (see DESIGN.md)."""
