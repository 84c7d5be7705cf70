"""jdl_events package."""
