"""The plant-floor screens: line board, jobs, job cards and travelers, items (docs/screens.md)."""
