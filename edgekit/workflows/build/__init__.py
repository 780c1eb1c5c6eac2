"""``edgekit build`` / ``edgekit merge``: a config's matrix of models × targets (× variants) built into
``cells/<cell-id>/`` folders and one ``index.json``, cached by content, shardable over CI jobs.

- :mod:`edgekit.workflows.build.config`: the config file (pydantic) and its expansion into cells
- :mod:`edgekit.workflows.build.cache`: cell keys, reuse, atomic install, the optional content-addressed store
- :mod:`edgekit.workflows.build.runner`: ``build()``
- :mod:`edgekit.workflows.build.merge`: ``merge()`` of shard folders
- :mod:`edgekit.workflows.build.index`: ``index.json`` and the shard partition
"""
