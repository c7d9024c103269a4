from flask.cli import AppGroup
petition_cli = AppGroup("petition")
