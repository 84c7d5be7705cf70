"""The stage runner and the service entry points built on jdl_infra's adapters: Stage (decode or
dead-letter, run the handler, send, mark), make_app and stage_agent (a service's faust app), and
ServiceSettings and run_service (what every services/*/__main__.py and settings.py share)."""
