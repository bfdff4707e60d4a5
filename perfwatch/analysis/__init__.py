"""Analysis over the store: detection, the gate, compare, report, the frames the app reads."""
