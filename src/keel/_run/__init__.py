"""The loop's machinery. Private: use `keel.Runner`."""
