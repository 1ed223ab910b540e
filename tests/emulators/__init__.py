"""Test support: loopback emulators of the cloud APIs picsync talks to, with fault injection.

`server` is the generic HTTP(S) loopback server with a request log and a fault plan; `dropbox`
is a Dropbox API v2 emulator built on it; `fixtures` holds the pytest fixtures that start them.
"""
