"""The jdl command-line interface."""
