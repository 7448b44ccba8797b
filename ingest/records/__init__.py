"""The formats of linetrace's internal topics, one module per topic, each next to its name.

- ``bundles``: ``item-bundles``, item records from stage 1 (and stage 2) to stage 2;
- ``trace``: ``trace``, rows for ClickHouse from the stages to the sink;
- ``routestate``: ``route-state``, stage 2's changelog;
- ``rows``: one typed row per ClickHouse table, the declaration of its columns.

A producer and its consumer use the same codec (``encode`` and ``decode``), so a format
is written once. A codec's ``decode`` raises InvalidInput on bad input, so the message is
dead-lettered with a reason.
"""
