"""The application layer: live rooms and their connections, the stores, the poll and quiz
books' persistence, join-token keys and reports. Between the transport (``web``) and the
media, recordings and domain below it; it imports nothing of ``web``."""
