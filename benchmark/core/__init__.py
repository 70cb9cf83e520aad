"""Core: what every layer may use and that imports nothing else of fakebench (errors, environment, files, names,
provenance). No torch import."""
