"""The points ledger (award, adjust, totals) and leaderboards."""
