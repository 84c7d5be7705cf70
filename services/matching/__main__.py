"""Run the matching service: `python -m services.matching worker -l info`."""
from jdl_pipeline.service import run_service

from .app import create_app
from .settings import MatchingSettings

if __name__ == "__main__":
    run_service(create_app, MatchingSettings)
