"""Use cases. Each is one class with its ports in `__init__` and one `execute(command)`."""
