"""synthreview: store_adapters stage (see DESIGN.md)."""
