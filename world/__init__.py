"""The simulated world that writes interaction logs in the log format (users, videos, requests, outcomes, drift)."""
