"""Run the reporting service: `python -m services.reporting worker -l info`."""
from jdl_pipeline.service import run_service

from .app import create_app
from .settings import ReportingSettings

if __name__ == "__main__":
    run_service(create_app, ReportingSettings)
