"""The service (layer 4): the worker loop, its middleware, job sources and servers."""
