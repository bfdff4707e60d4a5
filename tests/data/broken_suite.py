import not_a_module_that_exists  # noqa: F401  (a suite file that fails to import)
