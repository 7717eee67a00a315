"""The HTTP server: OpenAI and SD web UI compatible endpoints, dynamic batching, and a live web page.

It calls the pipeline; nothing below it imports it.
"""
