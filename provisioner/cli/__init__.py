"""The command-line layer: the only package that imports click or writes to the terminal."""
