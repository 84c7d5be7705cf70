"""jdl_infra package."""
