"""The classroom domain: rooms, roles, sessions and the catalogue, with no I/O."""
