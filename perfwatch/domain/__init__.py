"""The vocabulary every layer shares: modes, backends, sizes, the metric catalogue, series
identity, result types, errors and settings. Imports nothing else of perfwatch."""
