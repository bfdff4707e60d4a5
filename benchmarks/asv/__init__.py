"""asv benchmarks for perfwatch's suites (asv.conf.json points its benchmark_dir here).

asv imports this directory as a package named after it, ``asv``: nothing in here may
``import asv``, which would find this package instead of airspeed velocity.
"""
