from flask.cli import AppGroup
roll_cli = AppGroup("roll")
