"""One module per command, named after it (``import_``: ``import`` is a keyword); ``common``
holds the helpers they share. Each has ``register(subparsers)``, which adds its
command with ``set_defaults(handler=...)``; a handler takes the parsed arguments and returns
an exit code. ``perfwatch.cli.main`` lists the modules in ``COMMAND_MODULES``."""
