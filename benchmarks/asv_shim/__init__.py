"""asv benchmarks for perfwatch's suites (asv.conf.json points its benchmark_dir here).

asv imports this directory as a package named after it: hence ``asv_shim``, not ``asv``, which
would shadow airspeed velocity itself inside the benchmark processes.
"""
