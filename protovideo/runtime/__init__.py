"""Process-wide foundations of the worker: settings, logging, malloc tuning."""
