"""``edgekit build`` / ``edgekit merge``: a config's matrix of models × targets (× variants) built into
``cells/<cell-id>/`` folders and one ``index.json``, cached by content, shardable over CI jobs.

- :mod:`edgekit.build.config`: the config file (pydantic) and its expansion into cells
- :mod:`edgekit.build.cache`: cell keys, reuse, atomic install, the optional content-addressed store
- :mod:`edgekit.build.runner`: ``build()``
- :mod:`edgekit.build.merge`: ``merge()`` of shard folders
- :mod:`edgekit.build.index`: ``index.json`` and the shard partition
"""
