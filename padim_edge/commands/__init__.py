"""CLI commands that live in their own modules (each imports its heavy dependencies lazily)."""
