"""One module per group of commands. Each has ``register(subparsers)``, which adds its
sub-commands with ``set_defaults(handler=...)``; a handler takes the parsed arguments and returns
an exit code. ``perfwatch.cli.main`` lists the modules in ``COMMAND_MODULES``."""
