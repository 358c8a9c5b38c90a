from meshcode.cli import app

app(prog_name="meshcode")
