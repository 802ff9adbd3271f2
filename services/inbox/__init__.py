"""The staff inbox: sign-in, sessions, server-rendered pages and the staff JSON API."""
