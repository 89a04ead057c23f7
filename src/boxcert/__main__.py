from boxcert.cli import run

run()
