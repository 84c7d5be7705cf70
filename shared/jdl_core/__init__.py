"""jdl_core package."""
