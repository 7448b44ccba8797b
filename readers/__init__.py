"""linetrace readers: edge adapters and the line simulator; all publish read-cycle reports."""
