"""The entry layer (5): the commands of main_worker.py."""
