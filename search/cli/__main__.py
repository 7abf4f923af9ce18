from search.cli import app

app(prog_name="momnas")
