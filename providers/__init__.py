"""Cloud providers: each sub-package holds all of one cloud and may be deleted to remove it."""
