"""Data: the dataset manifest (shipped as package data under ``manifests/``), image discovery and decoding, and dataset
downloads. Depends on :mod:`fakebench.core` and :mod:`fakebench.hub`, never on a detector or the evaluation."""
