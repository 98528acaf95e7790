"""Real request-load traces: ``load`` (load_trace, load_catalog_trace), ``catalog``,
``fetch`` (the verified download cache), ``parse`` (parsers, parsed-array cache), ``base``
(Trace, TraceError).

No names are re-exported: import each from the module that defines it.
"""
