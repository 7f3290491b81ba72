"""synthreview: filings stage (see DESIGN.md)."""
