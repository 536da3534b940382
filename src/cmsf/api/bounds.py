"""The bounds of an API request body, in a module without Django so that `project/asgi.py` can read them before
Django is set up: the server refuses a larger body before reading it (`project/limits.py`), and the API's request
layer checks again, with the nesting."""

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 16
