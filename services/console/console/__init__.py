"""The console: server-rendered pages that act on the suite as the signed-in person."""
