"""Storage helpers every store shares: the process's Redis client, SQLite files for workers.

At the bottom of the house: imports nothing of the proxy but its configuration.
"""
