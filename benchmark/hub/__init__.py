"""Hub: getting files from outside, safely: sources, verified and resumable fetches (HTTP, Google Drive via gdown,
Hugging Face hub), the weights cache and safe archive extraction. Depends only on :mod:`fakebench.core`."""
