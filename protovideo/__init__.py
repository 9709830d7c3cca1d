"""ProtoVideo worker: JSON video jobs in, narrated MP4 videos out."""
__version__ = "0.1.0"
