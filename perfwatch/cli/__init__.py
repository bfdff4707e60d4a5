"""The command line: parser, terminal tables and progress. Commands live in perfwatch/commands/."""
