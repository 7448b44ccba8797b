"""linetrace streams: deduplicate reads into passes, judge passes against routes."""
