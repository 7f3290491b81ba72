"""synthreview: rules stage (see DESIGN.md)."""
