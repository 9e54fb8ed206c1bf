"""Test support for the fraud workspace (dev only: never a runtime dependency, never in an image).

``fraud_testing.snowflake_emulator`` is a pytest plugin (registered by entry point) that serves
a local Snowflake emulator to every test run of the workspace. Nothing is imported here, so that
pytest can rewrite the plugin's asserts when it loads it.
"""
