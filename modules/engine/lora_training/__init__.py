"""LoRA training inside the app: aspect buckets (buckets.py), the training loop on a loaded pipeline (trainer.py)
and the kohya/A1111 file it writes (kohya.py). The queue, files of the job and limits are the service's."""
