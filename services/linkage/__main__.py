"""Run the linkage service: `python -m services.linkage worker -l info`."""
from jdl_pipeline.service import run_service

from .app import create_app
from .settings import LinkageSettings

if __name__ == "__main__":
    run_service(create_app, LinkageSettings)
