"""Built-in example apps. `keel chat` serves `keel.examples.starter:app` by default."""
