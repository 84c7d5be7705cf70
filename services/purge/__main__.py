"""Run the purge service: `python -m services.purge worker -l info`."""
from jdl_pipeline.service import run_service

from .app import create_app
from .settings import PurgeSettings

if __name__ == "__main__":
    run_service(create_app, PurgeSettings)
