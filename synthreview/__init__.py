"""synthreview: store-side review of deep-synthesis apps (CAC Deep Synthesis Provisions, Art. 13)."""

__version__ = "0.1.0"
