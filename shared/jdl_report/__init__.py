"""jdl_report package."""
