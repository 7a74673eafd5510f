"""The `keel` command line's internals; `keel.cli` holds the commands themselves.

rich and typer are imported here and in `keel.cli` only, so `import keel` stays fast.
"""
