from jdl_cli.main import app

app()
