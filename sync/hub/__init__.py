"""The hub: ingests every site's events exactly once, owns the network's members and plans, signs rosters."""
