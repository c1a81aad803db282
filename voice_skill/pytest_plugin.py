"""pytest plugin: every scenario under tests/scenarios/ becomes a test case of its own."""
