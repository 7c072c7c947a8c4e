"""The domain: value objects, ports, errors and pure logic. Imports nothing third-party."""
