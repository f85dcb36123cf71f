"""Where the generation job writes its summary: generation.json, beside the logs' day=NNNNN directories.

The log files' own names and paths are the ingest's (ingest/layout.py): the generator writes what the ingest reads.
"""

GENERATION_SUMMARY_FILE = "generation.json"
